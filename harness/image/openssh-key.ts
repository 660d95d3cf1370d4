// An ed25519 key pair in OpenSSH formats, from node's crypto. (ssh2's own
// generator drops leading zero bytes of the public key, so about one key in
// 128 comes out malformed; this encoder writes fixed 32-byte fields.)
import { generateKeyPairSync, randomBytes } from 'node:crypto';

export interface OpenSshKeyPair {
  /** "-----BEGIN OPENSSH PRIVATE KEY-----" text, unencrypted. */
  private: string;
  /** "ssh-ed25519 <base64> <comment>". */
  public: string;
}

const TYPE = 'ssh-ed25519';

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

const uint32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** Encode raw ed25519 key material (32-byte seed, 32-byte public key). */
export function encodeEd25519(seed: Buffer, pub: Buffer, comment: string, checkint = randomBytes(4).readUInt32BE()): OpenSshKeyPair {
  if (seed.length !== 32 || pub.length !== 32) throw new Error('ed25519 seed and public key must be 32 bytes each');
  const pubBlob = Buffer.concat([sshString(TYPE), sshString(pub)]);
  let priv = Buffer.concat([
    uint32(checkint),
    uint32(checkint),
    sshString(TYPE),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  // Pad to the cipher block size (8 for "none") with 1, 2, 3, ...
  const padLen = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'), // cipher
    sshString('none'), // kdf
    sshString(''), // kdf options
    uint32(1),
    sshString(pubBlob),
    sshString(priv),
  ]);
  const b64 = body.toString('base64').match(/.{1,70}/g)!.join('\n');
  return {
    private: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`,
    public: `${TYPE} ${pubBlob.toString('base64')}${comment ? ' ' + comment : ''}`,
  };
}

export function generateEd25519(comment: string): OpenSshKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return encodeEd25519(Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url'), comment);
}
