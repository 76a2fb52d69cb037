// What <llm-chat> says about a remote server's failures: a title per error class, the error's own
// message kept, and a hint chosen by what went wrong (unreachable/CORS, key, route, busy, failed).
import { describe, expect, test } from 'vitest';
import { InvalidEndpointError, RemoteProtocolError, RemoteServerError, RemoteTimeoutError } from '../../src/errors.ts';
import { describeError } from '../../src/ui/error-text.ts';

describe('describeError for remote servers', () => {
  test('each class has its own title and keeps its message', () => {
    expect(describeError(new InvalidEndpointError('the endpoint "ftp://x" must be an http(s) URL'))).toMatchObject({
      title: 'This server address cannot be used',
      detail: 'the endpoint "ftp://x" must be an http(s) URL',
    });
    expect(describeError(new RemoteTimeoutError('chat completion: the server sent nothing for 120 s')).title).toBe(
      'The server stopped answering',
    );
    expect(describeError(new RemoteProtocolError('the server sent an event that is not JSON')).title).toBe(
      "The server's reply could not be read",
    );
    expect(describeError(new RemoteServerError('chat completion failed: HTTP 500', 500))).toMatchObject({
      title: 'The server refused or failed the request',
      detail: 'chat completion failed: HTTP 500',
    });
  });

  test('the hint follows the status', () => {
    const hint = (status?: number) => describeError(new RemoteServerError('x', status)).hint;
    expect(hint(undefined)).toMatch(/CORS/);
    expect(hint(401)).toMatch(/API key/);
    expect(hint(403)).toMatch(/API key/);
    expect(hint(404)).toMatch(/\/v1/);
    expect(hint(429)).toMatch(/busy/);
    expect(hint(503)).toMatch(/failed/);
    expect(hint(400)).toMatch(/model name/);
  });
});
