// Meetview offline build of the mediasoup worker: the libsrtp 3.0 API that the
// worker calls (mediasoup >= 3.23), implemented over Debian's libsrtp2 2.5.
//
// Debian packages only libsrtp2. libsrtp 3.0 changed the API the worker uses:
//   - srtp_policy_t became an opaque handle built with srtp_policy_create(),
//     srtp_policy_set_*(), srtp_policy_add_key() and srtp_policy_destroy();
//   - protect/unprotect take separate input and output buffers and size_t
//     lengths (libsrtp2 works in place with int lengths);
//   - srtp_remove_stream() became srtp_stream_remove();
//   - two error codes were added.
// This header keeps libsrtp2's declarations (its struct srtp_policy_t renamed
// to srtp2_policy_t so that the 3.0 handle type can take the name) and adds
// the 3.0 calls as inline C++ overloads. Only what the worker needs is here:
// one master key per policy, no MKI.
#ifndef MEETVIEW_COMPAT_SRTP3_H
#define MEETVIEW_COMPAT_SRTP3_H

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#define srtp_policy_t srtp2_policy_t
#include <srtp2/srtp.h>
#undef srtp_policy_t

// Error codes that libsrtp 3.0 added after srtp_err_status_pkt_idx_adv (27).
constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

// The opaque 3.0 policy: a libsrtp2 policy plus the storage its key points to
// (libsrtp2 reads the master key and salt from one contiguous buffer).
struct meetview_srtp_policy
{
	srtp2_policy_t policy;
	unsigned char key[SRTP_MAX_KEY_LEN];
	srtp_profile_t profile;
	bool hasProfile;
	bool hasKey;
};

typedef meetview_srtp_policy* srtp_policy_t;

inline srtp_err_status_t srtp_policy_create(srtp_policy_t* policy)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;

	auto* p = new (std::nothrow) meetview_srtp_policy;

	if (p == nullptr)
		return srtp_err_status_alloc_fail;

	std::memset(p, 0, sizeof(*p));
	p->policy.ssrc.type = ssrc_undefined;
	p->profile          = srtp_profile_reserved;
	*policy             = p;

	return srtp_err_status_ok;
}

inline void srtp_policy_destroy(srtp_policy_t policy)
{
	if (policy == nullptr)
		return;

	// The key is secret: do not leave it in freed memory.
	volatile unsigned char* key = policy->key;

	for (size_t i = 0; i < sizeof(policy->key); ++i)
		key[i] = 0;

	delete policy;
}

inline srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;

	policy->policy.ssrc = ssrc;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;

	srtp_err_status_t err =
	  srtp_crypto_policy_set_from_profile_for_rtp(&policy->policy.rtp, profile);

	if (err != srtp_err_status_ok)
		return err;

	err = srtp_crypto_policy_set_from_profile_for_rtcp(&policy->policy.rtcp, profile);

	if (err != srtp_err_status_ok)
		return err;

	policy->profile    = profile;
	policy->hasProfile = true;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_add_key(
  srtp_policy_t policy,
  const uint8_t* key,
  size_t keyLen,
  const uint8_t* salt,
  size_t saltLen,
  const uint8_t* mki,
  size_t mkiLen)
{
	// One key per policy and no MKI: all the worker uses.
	if (policy == nullptr || key == nullptr || policy->hasKey || mki != nullptr || mkiLen != 0)
		return srtp_err_status_bad_param;

	if (keyLen + saltLen > sizeof(policy->key) || (saltLen > 0 && salt == nullptr))
		return srtp_err_status_bad_param;

	// libsrtp2 takes the lengths from the profile: the given ones must match it.
	if (
	  policy->hasProfile &&
	  (keyLen != srtp_profile_get_master_key_length(policy->profile) ||
	   saltLen != srtp_profile_get_master_salt_length(policy->profile)))
	{
		return srtp_err_status_bad_param;
	}

	std::memcpy(policy->key, key, keyLen);

	if (saltLen > 0)
		std::memcpy(policy->key + keyLen, salt, saltLen);

	policy->hasKey = true;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;

	policy->policy.allow_repeat_tx = allow ? 1 : 0;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t windowSize)
{
	// Same bounds as libsrtp2's replay database.
	if (policy == nullptr || windowSize < 64 || windowSize >= 0x8000)
		return srtp_err_status_bad_param;

	policy->policy.window_size = static_cast<unsigned long>(windowSize);

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_create(srtp_t* session, srtp_policy_t policy)
{
	if (session == nullptr)
		return srtp_err_status_bad_param;

	// A null policy creates an empty session, as in both APIs.
	if (policy == nullptr)
		return srtp_create(session, static_cast<const srtp2_policy_t*>(nullptr));

	if (!policy->hasProfile || !policy->hasKey)
		return srtp_err_status_bad_param;

	policy->policy.key  = policy->key;
	policy->policy.next = nullptr;

	return srtp_create(session, static_cast<const srtp2_policy_t*>(&policy->policy));
}

inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}

namespace meetview_srtp_compat
{
	// libsrtp2 works in place: copy the input into the output buffer first.
	// `trailer` is the room libsrtp2 may write after the packet.
	inline srtp_err_status_t Prepare(
	  const uint8_t* in, size_t inLen, uint8_t* out, const size_t* outLen, size_t trailer, int* len)
	{
		if (in == nullptr || out == nullptr || outLen == nullptr)
			return srtp_err_status_bad_param;

		if (inLen > static_cast<size_t>(INT_MAX) - trailer)
			return srtp_err_status_bad_param;

		if (*outLen < inLen + trailer)
			return srtp_err_status_buffer_small;

		if (in != out)
			std::memmove(out, in, inLen);

		*len = static_cast<int>(inLen);

		return srtp_err_status_ok;
	}
} // namespace meetview_srtp_compat

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
		return srtp_err_status_bad_mki;

	int len{ 0 };
	srtp_err_status_t err =
	  meetview_srtp_compat::Prepare(rtp, rtpLen, srtp, srtpLen, SRTP_MAX_TRAILER_LEN, &len);

	if (err != srtp_err_status_ok)
		return err;

	err = srtp_protect(ctx, static_cast<void*>(srtp), &len);

	if (err == srtp_err_status_ok)
		*srtpLen = static_cast<size_t>(len);

	return err;
}

inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	int len{ 0 };
	srtp_err_status_t err = meetview_srtp_compat::Prepare(srtp, srtpLen, rtp, rtpLen, 0, &len);

	if (err != srtp_err_status_ok)
		return err;

	err = srtp_unprotect(ctx, static_cast<void*>(rtp), &len);

	if (err == srtp_err_status_ok)
		*rtpLen = static_cast<size_t>(len);

	return err;
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
		return srtp_err_status_bad_mki;

	int len{ 0 };
	// SRTCP adds the 4-byte E flag + index word besides the auth tag.
	srtp_err_status_t err =
	  meetview_srtp_compat::Prepare(rtcp, rtcpLen, srtcp, srtcpLen, SRTP_MAX_TRAILER_LEN + 4, &len);

	if (err != srtp_err_status_ok)
		return err;

	err = srtp_protect_rtcp(ctx, static_cast<void*>(srtcp), &len);

	if (err == srtp_err_status_ok)
		*srtcpLen = static_cast<size_t>(len);

	return err;
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	int len{ 0 };
	srtp_err_status_t err = meetview_srtp_compat::Prepare(srtcp, srtcpLen, rtcp, rtcpLen, 0, &len);

	if (err != srtp_err_status_ok)
		return err;

	err = srtp_unprotect_rtcp(ctx, static_cast<void*>(rtcp), &len);

	if (err == srtp_err_status_ok)
		*rtcpLen = static_cast<size_t>(len);

	return err;
}

#endif
