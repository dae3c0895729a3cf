// linkemu: Meetview's user-space WAN link emulator (the kernel here has no netem).
//
// It owns a TUN device in the "wan" network namespace. Policy routing there sends every packet
// that goes from one region's namespace to another's into the TUN; linkemu reads it, looks up the
// link by the source and destination subnets, drops it (loss, partition, full queue) or holds it
// for the link's delay (+ jitter), and writes it back into the TUN, from where the kernel routes
// it to the destination namespace. It works for any IP traffic: UDP media pipes and TCP alike.
//
// Control: JSON lines on a Unix socket (set, stats, ping). Standard library only.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

type site struct {
	Name   string `json:"name"`
	Prefix string `json:"cidr"`
	prefix netip.Prefix
}

// linkConfig is one direction's behaviour.
type linkConfig struct {
	DelayMs  float64 `json:"delayMs"`
	JitterMs float64 `json:"jitterMs"`
	Loss     float64 `json:"loss"`
	Down     bool    `json:"down"`
	RateKbps float64 `json:"rateKbps"`
}

type linkSpec struct {
	A string `json:"a"`
	B string `json:"b"`
	linkConfig
}

type config struct {
	Sites []site     `json:"sites"`
	Links []linkSpec `json:"links"`
	Queue int        `json:"queue"`
}

type packet struct {
	data  []byte
	at    time.Time
	epoch uint64 // the direction's epoch when it entered: a partition since then drops it
}

// direction is one way of one link: a FIFO whose delivery times never decrease, so one goroutine
// sleeping until the head's time delivers every packet on time and in order.
type direction struct {
	from, to string
	mu       sync.Mutex
	cfg      linkConfig
	last     time.Time // delivery time of the previous packet: jitter never reorders
	rng      *rand.Rand
	queue    chan packet
	epoch    atomic.Uint64 // bumped by a partition: packets already queued are dropped too

	packets, bytes, delivered, lossDrops, downDrops, queueDrops atomic.Uint64
}

type emulator struct {
	tun         *os.File
	sites       []site
	dirs        map[[2]int]*direction
	byKey       map[string]*direction
	passthrough atomic.Uint64
}

func (e *emulator) siteOf(addr netip.Addr) int {
	for i, s := range e.sites {
		if s.prefix.Contains(addr) {
			return i
		}
	}
	return -1
}

func (d *direction) enqueue(pkt []byte) {
	d.packets.Add(1)
	d.bytes.Add(uint64(len(pkt)))
	d.mu.Lock()
	cfg := d.cfg
	if cfg.Down {
		d.mu.Unlock()
		d.downDrops.Add(1)
		return
	}
	if cfg.Loss > 0 && d.rng.Float64() < cfg.Loss {
		d.mu.Unlock()
		d.lossDrops.Add(1)
		return
	}
	delay := cfg.DelayMs
	if cfg.JitterMs > 0 {
		j := d.rng.NormFloat64() * cfg.JitterMs
		if j > 2*cfg.JitterMs {
			j = 2 * cfg.JitterMs
		} else if j < -2*cfg.JitterMs {
			j = -2 * cfg.JitterMs
		}
		delay += j
		if delay < 0 {
			delay = 0
		}
	}
	now := time.Now()
	at := now.Add(time.Duration(delay * float64(time.Millisecond)))
	if cfg.RateKbps > 0 {
		// Serialization: a packet cannot start before the previous one has left.
		start := d.last
		if start.Before(now) {
			start = now
		}
		tx := time.Duration(float64(len(pkt)*8) / (cfg.RateKbps * 1000) * float64(time.Second))
		if min := start.Add(tx).Add(time.Duration(delay * float64(time.Millisecond))); at.Before(min) {
			at = min
		}
	}
	if at.Before(d.last) {
		at = d.last
	}
	d.last = at
	d.mu.Unlock()
	buf := make([]byte, len(pkt))
	copy(buf, pkt)
	select {
	case d.queue <- packet{data: buf, at: at, epoch: d.epoch.Load()}:
	default:
		d.queueDrops.Add(1)
	}
}

func (e *emulator) deliver(d *direction) {
	for p := range d.queue {
		if wait := time.Until(p.at); wait > 0 {
			time.Sleep(wait)
		}
		d.mu.Lock()
		down := d.cfg.Down
		d.mu.Unlock()
		if down || d.epoch.Load() != p.epoch {
			d.downDrops.Add(1)
			continue
		}
		if _, err := e.tun.Write(p.data); err == nil {
			d.delivered.Add(1)
		}
	}
}

func (e *emulator) readLoop() {
	buf := make([]byte, 65536)
	for {
		n, err := e.tun.Read(buf)
		if err != nil {
			fmt.Fprintf(os.Stderr, "linkemu: tun read: %v\n", err)
			os.Exit(1)
		}
		pkt := buf[:n]
		if n < 20 || pkt[0]>>4 != 4 {
			e.tun.Write(pkt)
			e.passthrough.Add(1)
			continue
		}
		src := netip.AddrFrom4([4]byte(pkt[12:16]))
		dst := netip.AddrFrom4([4]byte(pkt[16:20]))
		d := e.dirs[[2]int{e.siteOf(src), e.siteOf(dst)}]
		if d == nil {
			// Not between two known sites: no emulation.
			e.tun.Write(pkt)
			e.passthrough.Add(1)
			continue
		}
		d.enqueue(pkt)
	}
}

// openTun creates (or attaches to) a TUN device without packet information headers.
func openTun(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [40]byte
	copy(ifr[:15], name)
	const iffTun, iffNoPi, tunSetIff = 0x0001, 0x1000, 0x400454ca
	*(*uint16)(unsafe.Pointer(&ifr[16])) = iffTun | iffNoPi
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %v", name, errno)
	}
	return os.NewFile(uintptr(fd), name), nil
}

type request struct {
	Op string `json:"op"`
	A  string `json:"a"`
	B  string `json:"b"`
	// "both" (default), "ab" (a to b only) or "ba".
	Dir string `json:"dir"`
	linkConfig
	// Which fields a "set" changes (absent ones keep their value).
	Fields []string `json:"fields"`
}

type dirStats struct {
	From       string     `json:"from"`
	To         string     `json:"to"`
	Config     linkConfig `json:"config"`
	Packets    uint64     `json:"packets"`
	Bytes      uint64     `json:"bytes"`
	Delivered  uint64     `json:"delivered"`
	LossDrops  uint64     `json:"lossDrops"`
	DownDrops  uint64     `json:"downDrops"`
	QueueDrops uint64     `json:"queueDrops"`
	Queued     int        `json:"queued"`
}

func (e *emulator) handle(req request) (any, error) {
	switch req.Op {
	case "ping":
		return map[string]any{"ok": true, "pid": os.Getpid()}, nil
	case "stats":
		out := []dirStats{}
		for _, d := range e.byKey {
			d.mu.Lock()
			cfg := d.cfg
			d.mu.Unlock()
			out = append(out, dirStats{d.from, d.to, cfg, d.packets.Load(), d.bytes.Load(), d.delivered.Load(),
				d.lossDrops.Load(), d.downDrops.Load(), d.queueDrops.Load(), len(d.queue)})
		}
		return map[string]any{"ok": true, "links": out, "passthrough": e.passthrough.Load()}, nil
	case "set":
		var targets []*direction
		if req.Dir == "" || req.Dir == "both" || req.Dir == "ab" {
			targets = append(targets, e.byKey[req.A+">"+req.B])
		}
		if req.Dir == "" || req.Dir == "both" || req.Dir == "ba" {
			targets = append(targets, e.byKey[req.B+">"+req.A])
		}
		for _, d := range targets {
			if d == nil {
				return nil, fmt.Errorf("no link between %q and %q", req.A, req.B)
			}
		}
		for _, d := range targets {
			d.mu.Lock()
			for _, f := range req.Fields {
				switch f {
				case "delayMs":
					d.cfg.DelayMs = req.DelayMs
				case "jitterMs":
					d.cfg.JitterMs = req.JitterMs
				case "loss":
					d.cfg.Loss = req.Loss
				case "rateKbps":
					d.cfg.RateKbps = req.RateKbps
				case "down":
					if req.Down && !d.cfg.Down {
						d.epoch.Add(1)
					}
					d.cfg.Down = req.Down
				}
			}
			if d.last.After(time.Now().Add(time.Duration(d.cfg.DelayMs*2+1000) * time.Millisecond)) {
				d.last = time.Time{}
			}
			d.mu.Unlock()
		}
		return map[string]any{"ok": true}, nil
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

func (e *emulator) serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			sc := bufio.NewScanner(c)
			enc := json.NewEncoder(c)
			for sc.Scan() {
				var req request
				var resp any
				if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
					resp = map[string]any{"ok": false, "error": "bad request: " + err.Error()}
				} else if r, err := e.handle(req); err != nil {
					resp = map[string]any{"ok": false, "error": err.Error()}
				} else {
					resp = r
				}
				enc.Encode(resp)
			}
		}(conn)
	}
}

func main() {
	tunName := flag.String("tun", "tun0", "TUN device to create")
	control := flag.String("control", "", "Unix socket for control requests")
	configJSON := flag.String("config", "", "sites and links (JSON)")
	flag.Parse()
	var cfg config
	if err := json.Unmarshal([]byte(*configJSON), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "linkemu: -config: %v\n", err)
		os.Exit(2)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 50000
	}
	e := &emulator{dirs: map[[2]int]*direction{}, byKey: map[string]*direction{}}
	index := map[string]int{}
	for i := range cfg.Sites {
		p, err := netip.ParsePrefix(cfg.Sites[i].Prefix)
		if err != nil {
			fmt.Fprintf(os.Stderr, "linkemu: site %s: %v\n", cfg.Sites[i].Name, err)
			os.Exit(2)
		}
		cfg.Sites[i].prefix = p
		index[cfg.Sites[i].Name] = i
	}
	e.sites = cfg.Sites
	seed := time.Now().UnixNano()
	for _, l := range cfg.Links {
		ia, oka := index[l.A]
		ib, okb := index[l.B]
		if !oka || !okb || ia == ib {
			fmt.Fprintf(os.Stderr, "linkemu: link %s-%s: unknown site\n", l.A, l.B)
			os.Exit(2)
		}
		for _, pair := range [][2]int{{ia, ib}, {ib, ia}} {
			seed++
			d := &direction{from: cfg.Sites[pair[0]].Name, to: cfg.Sites[pair[1]].Name, cfg: l.linkConfig,
				rng: rand.New(rand.NewSource(seed)), queue: make(chan packet, cfg.Queue)}
			e.dirs[pair] = d
			e.byKey[d.from+">"+d.to] = d
		}
	}
	tun, err := openTun(*tunName)
	if err != nil {
		fmt.Fprintf(os.Stderr, "linkemu: %v\n", err)
		os.Exit(1)
	}
	e.tun = tun
	os.Remove(*control)
	l, err := net.Listen("unix", *control)
	if err != nil {
		fmt.Fprintf(os.Stderr, "linkemu: control socket: %v\n", err)
		os.Exit(1)
	}
	for _, d := range e.byKey {
		go e.deliver(d)
	}
	go e.serve(l)
	go e.readLoop()
	fmt.Printf("linkemu: %s up, %d sites, %d links, control %s\n", *tunName, len(cfg.Sites), len(cfg.Links), *control)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	l.Close()
	os.Remove(*control)
}
