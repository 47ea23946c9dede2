'use strict';
// The reference receiver for bench/run.sh: the same ingest contract as Hookbox (HMAC over the
// raw body, JSON checks, idempotent insert, 200 only after a durable commit), written the way
// a typical Node service would: Fastify, node-postgres, one INSERT (its own commit) per
// request, one process per core.
//
// Environment: DATABASE_URL (required), WEBHOOK_SECRET (required), PORT (8090), WORKERS (2),
// POOL_SIZE (16 per process).

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const Fastify = require('fastify');
const { Pool } = require('pg');

const PORT = Number(process.env.PORT || 8090);
const WORKERS = Number(process.env.WORKERS || 2);
const POOL_SIZE = Number(process.env.POOL_SIZE || 16);
const SECRET = process.env.WEBHOOK_SECRET;
const DATABASE_URL = process.env.DATABASE_URL;
const LIMIT = 1 << 20;

// The same table, constraint and indexes as Hookbox's Postgres migrations, so both pay the
// same index maintenance per row (bench/run.sh compares the two before it measures).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS callbacks (
    id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, delivery_key TEXT NOT NULL,
    delivery_digest BYTEA NOT NULL,
    callback_id TEXT NOT NULL, event TEXT NOT NULL, workflow_name TEXT, status TEXT,
    error_message TEXT, sent_at TIMESTAMP, body BYTEA NOT NULL, body_sha256 TEXT NOT NULL,
    preview TEXT NOT NULL, payload_size INTEGER NOT NULL, signature_verdict TEXT NOT NULL,
    signature_scheme TEXT NOT NULL, signature_header TEXT NOT NULL, secret_label TEXT NOT NULL,
    verified_at TIMESTAMP NOT NULL, received_at TIMESTAMP NOT NULL, remote_addr TEXT,
    user_agent TEXT, content_type TEXT,
    CONSTRAINT callbacks_delivery_digest_key UNIQUE (delivery_digest));
CREATE INDEX IF NOT EXISTS callbacks_status_id ON callbacks (status, id);
CREATE INDEX IF NOT EXISTS callbacks_workflow_name_id ON callbacks (workflow_name, id);
CREATE INDEX IF NOT EXISTS callbacks_event_id ON callbacks (event, id);
CREATE INDEX IF NOT EXISTS callbacks_callback_id_id ON callbacks (callback_id, id);
CREATE INDEX IF NOT EXISTS callbacks_received_at ON callbacks (received_at);
CREATE INDEX IF NOT EXISTS callbacks_source_id ON callbacks (source, id);`;

const INSERT = `INSERT INTO callbacks (source, delivery_key, delivery_digest, callback_id, event,
    workflow_name, status, error_message, body, body_sha256, preview, payload_size,
    signature_verdict, signature_scheme, signature_header, secret_label, verified_at,
    received_at, remote_addr, user_agent, content_type)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'verified', 'hmac-sha256', $13,
    'primary', $14, $15, $16, $17, $18)
  ON CONFLICT (delivery_digest) DO NOTHING RETURNING id`;

if (!SECRET || !DATABASE_URL) {
  console.error('DATABASE_URL and WEBHOOK_SECRET are required');
  process.exit(1);
}

if (cluster.isPrimary) {
  const pool = new Pool({ connectionString: DATABASE_URL, max: 1 });
  pool.query(SCHEMA).then(async () => {
    await pool.end();
    for (let i = 0; i < WORKERS; i++) cluster.fork();
  }, (error) => {
    console.error('schema failed:', error.message);
    process.exit(1);
  });
} else {
  serve();
}

function sha256Hex(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function deliveryKey(webhookId, jobId, event, bodySha) {
  if (webhookId) return `wid:${webhookId}`;
  const hash = crypto.createHash('sha256');
  for (const part of [jobId, event]) {
    const bytes = Buffer.from(part, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(bytes.length));
    hash.update(len).update(bytes);
  }
  return `sha256:${hash.update(bodySha).digest('hex')}`;
}

// The unique key, as Hookbox's src/store/delivery_digest.rs computes it.
function deliveryDigest(source, key) {
  return crypto.createHash('sha256').update(source, 'utf8').update(Buffer.from([0]))
    .update(key, 'utf8').digest();
}

const optionalString = (v) => v === undefined || v === null || typeof v === 'string';

function serve() {
  const pool = new Pool({ connectionString: DATABASE_URL, max: POOL_SIZE });
  const app = Fastify({ logger: false, bodyLimit: LIMIT });
  // The signature covers the raw bytes: take every body as a Buffer, never pre-parsed JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post('/api/webhooks/llm-callback', async (req, reply) => {
    const receivedAt = new Date();
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const header = req.headers['x-webhook-signature'];
    if (!header) return reply.code(401).send({ error: 'missing_signature' });
    const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header);
    const expected = crypto.createHmac('sha256', SECRET).update(raw).digest();
    if (!match || !crypto.timingSafeEqual(expected, Buffer.from(match[1], 'hex'))) {
      return reply.code(401).send({ error: 'invalid_signature' });
    }
    let payload;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      return reply.code(400).send({ error: 'invalid_json', detail: error.message });
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      return reply.code(400).send({ error: 'invalid_payload', detail: 'not an object' });
    }
    const { job_id: jobId, event } = payload;
    if (typeof jobId !== 'string' || jobId === '' || typeof event !== 'string' || event === ''
      || !optionalString(payload.workflow_name) || !optionalString(payload.status)
      || !optionalString(payload.error_message)) {
      return reply.code(400).send({ error: 'invalid_payload', detail: 'job_id/event' });
    }
    const bodySha = sha256Hex(raw);
    const key = deliveryKey(req.headers['webhook-id'], jobId, event, bodySha);
    const digest = deliveryDigest('llm-callback', key);
    try {
      const inserted = await pool.query(INSERT, [
        'llm-callback', key, digest, jobId, event, payload.workflow_name ?? null,
        payload.status ?? null, payload.error_message ?? null, raw, bodySha,
        raw.toString('utf8', 0, 200), raw.length, header, new Date(), receivedAt, req.ip, req.headers['user-agent'] ?? null,
        req.headers['content-type'] ?? null,
      ]);
      if (inserted.rows.length === 1) {
        return { status: 'accepted', id: Number(inserted.rows[0].id), callback_id: jobId, duplicate: false };
      }
      const existing = await pool.query(
        'SELECT id FROM callbacks WHERE delivery_digest = $1', [digest]);
      return { status: 'accepted', id: Number(existing.rows[0].id), callback_id: jobId, duplicate: true };
    } catch (error) {
      req.log.error(error);
      return reply.code(503).header('retry-after', '1').send({ error: 'storage_unavailable' });
    }
  });

  app.listen({ port: PORT, host: '127.0.0.1' }).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
