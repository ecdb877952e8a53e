// A real, third-party SSE client against silod: the npm `eventsource` package (v2, the
// Node implementation of the browser EventSource API). Used by tests/integration/events_test.cpp.
//
//   node tests/node/eventsource_client.mjs URL TOKEN N [LAST_ID]
//
// Connects to URL with `Authorization: Bearer TOKEN` (no header when TOKEN is "" or "-") and,
// when LAST_ID is given, `Last-Event-ID: LAST_ID`. Prints every event other than heartbeats as
// one JSON line {"id": <lastEventId>, "type": <event>, "data": <parsed data>} on stdout and exits
// 0 after N of them; exits 1 after 20 s without N events, 2 when the client gave up (a non-retried
// error status). Diagnostics go to stderr.
import EventSource from 'eventsource';

const [url, token, countArg, lastId] = process.argv.slice(2);
if (!url || countArg === undefined) {
  process.stderr.write('usage: eventsource_client.mjs URL TOKEN N [LAST_ID]\n');
  process.exit(64);
}
const wanted = Number.parseInt(countArg, 10);

const headers = {};
if (token && token !== '-') headers.Authorization = `Bearer ${token}`;
if (lastId !== undefined && lastId !== '') headers['Last-Event-ID'] = String(lastId);

// The EventSource API delivers named events only to listeners of that name: listen to every
// name of the API catalogue (API.md section 3), plus unnamed "message" events.
const types = [
  'message', 'stream.reset',
  'item.created', 'item.updated', 'item.deleted', 'revision.created',
  'edit.session_acquired', 'edit.session_released', 'edit.interference_resolved',
  'edit.handoff_requested', 'edit.handoff_declined',
  'edit.force_release_pending', 'edit.force_released',
  'approval.created', 'approval.signed', 'approval.completed',
  'checkpoint.created',
];

const es = new EventSource(url, { headers });
let received = 0;

function finish(code) {
  es.close();
  clearTimeout(timer);
  process.exitCode = code;
  // stdout is a file or a pipe: let pending writes drain before exiting.
  process.stdout.write('', () => process.exit(code));
}

const timer = setTimeout(() => {
  process.stderr.write(`timeout: ${received} of ${wanted} events\n`);
  finish(1);
}, 20000);

for (const type of types) {
  es.addEventListener(type, (ev) => {
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      data = ev.data;
    }
    const id = ev.lastEventId === '' || ev.lastEventId === undefined ? null : ev.lastEventId;
    process.stdout.write(JSON.stringify({ id, type, data }) + '\n');
    received += 1;
    if (received >= wanted) finish(0);
  });
}

es.addEventListener('open', () => process.stderr.write('open\n'));
es.addEventListener('error', (ev) => {
  process.stderr.write(`error: ${JSON.stringify({ status: ev.status, message: ev.message })}\n`);
  if (es.readyState === EventSource.CLOSED) finish(2);
});

if (wanted <= 0) finish(0);
