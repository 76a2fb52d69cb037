/**
 * Minimal protobuf (proto2 wire format) writer: just enough to serialise a SentencePiece
 * ModelProto. Wire types used: 0 varint, 2 length-delimited, 5 fixed32.
 */
export class ProtoWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private len = 0;

  constructor(initialCapacity = 1 << 16) {
    this.buf = new Uint8Array(initialCapacity);
    this.dv = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  /** Unsigned varint (non-negative safe integers only). */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`protobuf varint out of range: ${value}`);
    this.ensure(10);
    while (value >= 0x80) {
      this.buf[this.len++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.len++] = value;
  }

  tag(field: number, wireType: 0 | 2 | 5): void {
    this.varint(field * 8 + wireType);
  }

  /** Varint field: bool, enum or non-negative int32. */
  uintField(field: number, value: number): void {
    this.tag(field, 0);
    this.varint(value);
  }

  boolField(field: number, value: boolean): void {
    this.uintField(field, value ? 1 : 0);
  }

  floatField(field: number, value: number): void {
    this.tag(field, 5);
    this.ensure(4);
    this.dv.setFloat32(this.len, value, true);
    this.len += 4;
  }

  bytesField(field: number, bytes: Uint8Array): void {
    this.tag(field, 2);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /** Raw bytes (the body of a length-delimited field whose header was already written). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** Bytes a varint of `value` takes on the wire. */
export function varintSize(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}
