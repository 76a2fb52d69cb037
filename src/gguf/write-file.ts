/** Node only: stream a GGUF file to disk (kept apart from writer.ts so browser bundles skip node:fs). */
import { open } from 'node:fs/promises';
import { writeGGUF, type GGUFWritePlan, type GGUFWriteSpec } from './writer.ts';

/** Write `spec` to `path` chunk by chunk; returns the bytes written. Memory stays at one chunk. */
export async function writeGGUFToFile(path: string, spec: GGUFWriteSpec | GGUFWritePlan): Promise<number> {
  const handle = await open(path, 'w');
  let written = 0;
  try {
    for await (const chunk of writeGGUF(spec)) {
      let done = 0;
      while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
      written += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return written;
}
