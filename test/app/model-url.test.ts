import { describe, expect, test } from 'vitest';
import { InvalidModelUrlError } from '../../src/errors.ts';
import { MAX_MODEL_URL_CHARS, modelUrl } from '../../src/app/model-url.ts';

const PAGE = 'https://lowbit.example/app/';

describe('modelUrl: the URL typed into "Model from a URL…"', () => {
  test('https anywhere, plain http on this origin or the local machine, relative paths on this site', () => {
    expect(modelUrl('  https://huggingface.co/a/b/resolve/main/m.gguf  ', PAGE)).toBe('https://huggingface.co/a/b/resolve/main/m.gguf');
    expect(modelUrl('https://h.example/m.GGUF?download=true#part', PAGE)).toBe('https://h.example/m.GGUF?download=true');
    expect(modelUrl('models/x.gguf', PAGE)).toBe('https://lowbit.example/app/models/x.gguf');
    expect(modelUrl('http://localhost:8080/x.gguf', PAGE)).toBe('http://localhost:8080/x.gguf');
    expect(modelUrl('http://127.0.0.1:9/x.gguf', PAGE)).toBe('http://127.0.0.1:9/x.gguf');
    expect(modelUrl('http://[::1]:9/x.gguf', PAGE)).toBe('http://[::1]:9/x.gguf');
    expect(modelUrl('/m/x%20y.gguf', 'http://intranet.example:3000/')).toBe('http://intranet.example:3000/m/x%20y.gguf');
  });

  test.each([
    ['javascript:alert(1)//x.gguf', /javascript: URL/],
    ['JaVaScRiPt:fetch("//evil")', /javascript: URL/],
    ['file:///etc/passwd.gguf', /file: URL/],
    ['data:application/octet-stream;base64,R0dVRg==#.gguf', /data: URL/],
    ['blob:https://lowbit.example/1234', /blob: URL/],
    ['ftp://h.example/m.gguf', /ftp: URL/],
    ['http://h.example/m.gguf', /plain http/],
    ['http://localhost.evil.example/m.gguf', /plain http/],
    ['https://user:pw@h.example/m.gguf', /user name or password/],
    ['https://h.example/model.bin', /does not name a \.gguf file/],
    ['https://h.example/m.gguf/', /does not name a \.gguf file/],
    ['https://h.example/%E0%A4%A.gguf', /malformed path/],
    ['https://[bad/m.gguf', /is not a URL/],
    ['', /no URL/],
    ['   ', /no URL/],
    [`https://h.example/${'a'.repeat(MAX_MODEL_URL_CHARS)}.gguf`, /at most 2048/],
  ])('refuses %j with a typed error', (input, why) => {
    let caught: unknown;
    try {
      modelUrl(input, PAGE);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidModelUrlError);
    expect((caught as Error).message).toMatch(why);
  });

  test('a plain-http page does not make other plain-http hosts acceptable', () => {
    expect(() => modelUrl('http://other.example/m.gguf', 'http://intranet.example/')).toThrow(InvalidModelUrlError);
  });
});
