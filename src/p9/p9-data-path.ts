// The zero-copy hook for file data. A transport that can reach guest memory
// passes one of these to P9Server.handle(); Tread and Twrite then move their
// data between the host file and the guest buffers directly, and the reply
// the server returns is only the message header:
//
//   Tread:  the server checks the fid, calls readInto(fd, offset, count) and
//           returns the 11-byte Rread header (size[4] type[1] tag[2] count[4])
//           whose size and count include the bytes readInto placed; the
//           transport writes that header into the guest's first 11 reply bytes,
//           the data already sits right after it.
//   Twrite: the transport may pass only the 23-byte Twrite header (its size
//           field still counts the data); the server checks the fid and calls
//           writeFrom(fd, offset, count) for the data the transport holds.
//
// Both return the byte count moved, or a negative errno.
export interface P9DataPath {
  /** Reads up to `count` bytes of `fd` at `offset` into the guest buffers that follow the Rread header. */
  readInto(fd: number, offset: number, count: number): number;
  /** Writes the `count` data bytes that follow the Twrite header to `fd` at `offset`. */
  writeFrom(fd: number, offset: number, count: number): number;
}
