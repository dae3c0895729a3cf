import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  type DescriptorProto,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';
import type { PackageDefinition } from '@grpc/proto-loader';

/**
 * proto-loader (protobufjs) writes file descriptors with relative type names ("events.v1.Participant")
 * and without their `dependency` list; @grpc/reflection serves them as they are, and strict clients
 * (grpcurl, Go's protodesc) then cannot resolve a type from another file. This rewrites every type
 * reference fully qualified (".meetview.events.v1.Participant") and lists the files each one needs.
 */
export function qualifyDescriptors(definition: PackageDefinition): PackageDefinition {
  const files = new Map<string, FileDescriptorProto>();
  for (const entry of Object.values(definition))
    for (const bin of (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? []) {
      const file = fromBinary(FileDescriptorProtoSchema, bin);
      if (!files.has(file.name)) files.set(file.name, file);
    }
  for (const file of files.values()) nameMapEntries(file.messageType);
  // Every fully qualified type name, and the file that defines it.
  const symbols = new Map<string, string>();
  for (const file of files.values()) {
    const visit = (prefix: string, messages: DescriptorProto[]) => {
      for (const m of messages) {
        symbols.set(`${prefix}.${m.name}`, file.name);
        for (const e of m.enumType) symbols.set(`${prefix}.${m.name}.${e.name}`, file.name);
        visit(`${prefix}.${m.name}`, m.nestedType);
      }
    };
    const pkg = file.package ? `.${file.package}` : '';
    visit(pkg, file.messageType);
    for (const e of file.enumType) symbols.set(`${pkg}.${e.name}`, file.name);
  }
  const resolve = (ref: string, scope: string): string => {
    if (!ref || ref.startsWith('.')) return ref;
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
      const candidate = `${s}.${ref}`;
      if (symbols.has(candidate)) return candidate;
      if (!s) return ref;
    }
  };
  const encoded = new Map<string, Uint8Array>();
  for (const file of files.values()) {
    const deps = new Set(file.dependency);
    const use = (name: string) => {
      const owner = symbols.get(name);
      if (owner && owner !== file.name) deps.add(owner);
    };
    const fix = (scope: string, messages: DescriptorProto[]) => {
      for (const m of messages) {
        const inner = `${scope}.${m.name}`;
        for (const f of m.field) {
          f.typeName = resolve(f.typeName, inner);
          use(f.typeName);
        }
        fix(inner, m.nestedType);
      }
    };
    const pkg = file.package ? `.${file.package}` : '';
    fix(pkg, file.messageType);
    for (const svc of file.service)
      for (const method of svc.method) {
        method.inputType = resolve(method.inputType, pkg);
        method.outputType = resolve(method.outputType, pkg);
        use(method.inputType);
        use(method.outputType);
      }
    file.dependency = [...deps];
    encoded.set(file.name, toBinary(FileDescriptorProtoSchema, file));
  }
  const out: PackageDefinition = {};
  for (const [name, entry] of Object.entries(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    const fixed = protos?.map((bin) =>
      Buffer.from(encoded.get(fromBinary(FileDescriptorProtoSchema, bin).name) ?? bin),
    );
    out[name] = (fixed ? { ...entry, fileDescriptorProtos: fixed } : entry) as typeof entry;
  }
  return out;
}

/**
 * protobufjs names a map field's entry type after the field ("Statuses"); protoc and Go require
 * "<CamelField>Entry" ("StatusesEntry").
 */
function nameMapEntries(messages: DescriptorProto[]): void {
  for (const m of messages) {
    for (const nested of m.nestedType) {
      if (!nested.options?.mapEntry) continue;
      const field = m.field.find((f) => f.typeName === nested.name || f.typeName.endsWith(`.${nested.name}`));
      if (!field) continue;
      const name = `${field.name
        .split('_')
        .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
        .join('')}Entry`;
      field.typeName = field.typeName.slice(0, field.typeName.length - nested.name.length) + name;
      nested.name = name;
    }
    nameMapEntries(m.nestedType);
  }
}
