// The bench twin's tiny protocol: a banner on connect, echo, and a BULK command to stream bytes.

/** `BULK` + u32 total bytes + u32 frame bytes. */
export const BULK_COMMAND_BYTES = 12;
export const BANNER = Buffer.from('RFB 003.008\n');

export function bulkCommand(totalBytes: number, frameBytes: number): Buffer {
  const command = Buffer.alloc(BULK_COMMAND_BYTES);
  command.write('BULK', 0, 'latin1');
  command.writeUInt32BE(totalBytes, 4);
  command.writeUInt32BE(frameBytes, 8);
  return command;
}

