import { signal } from '@preact/signals';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import type { Message } from '../../client/src/index.ts';
import type { Session } from './session.ts';
import { desks, histories, loadOlder, markSeen, restClient, selected, upsert } from './store.ts';
import { sendFile } from './upload.ts';

const ticks: Record<Message['status'], string> = { sending: '…', sent: '✓', delivered: '✓✓', read: '✓✓', failed: 'failed' };
const images = /\.(png|jpe?g|gif|webp)$/i;

/** The open desk: its history (older pages as it scrolls up), live, and the composer. */
export function Conversation({ session }: { session: Session }) {
  const id = selected.value;
  const desk = id ? desks.value.get(id) : undefined;
  const history = id ? histories.value.get(id) : undefined;
  const scroller = useRef<HTMLDivElement>(null);
  const keep = useRef<{ height: number; top: number; atBottom: boolean } | null>(null);

  useEffect(() => {
    if (id && !histories.value.has(id)) void loadOlder(id);
  }, [id]);
  useEffect(() => {
    if (desk) markSeen(desk);
  }, [desk]);
  // Keeps the view where it was when older messages are put above, and follows new ones at the bottom.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const k = keep.current;
    if (!k || k.atBottom) el.scrollTop = el.scrollHeight;
    else el.scrollTop = el.scrollHeight - k.height + k.top;
  }, [history]);

  if (!desk) return <section class="conversation empty">Choose a desk.</section>;
  const onScroll = () => {
    const el = scroller.current!;
    keep.current = { height: el.scrollHeight, top: el.scrollTop, atBottom: el.scrollHeight - el.scrollTop - el.clientHeight < 40 };
    if (el.scrollTop < 80 && history && !history.complete) void loadOlder(desk.uuid);
  };
  return (
    <section class="conversation" aria-label={`Conversation with ${desk.client.name}`}>
      <header>
        <button type="button" class="back" onClick={() => (selected.value = null)} aria-label="Back to the desks">
          ←
        </button>
        <strong>{desk.client.name || desk.client.phone}</strong>
        <span class="phone">{desk.client.phone}</span>
        {desk.assignee && <span class="assignee">assigned to {desk.assignee}</span>}
      </header>
      <div class="messages" ref={scroller} onScroll={onScroll} tabIndex={0} aria-live="polite">
        {history?.complete && <p class="start">The beginning of the conversation.</p>}
        {history?.messages.map((m) => <Bubble key={m.uuid} m={m} token={session.token} />)}
      </div>
      <Composer desk={desk.uuid} token={session.token} />
    </section>
  );
}

function Bubble({ m, token }: { m: Message; token: string }) {
  const file = m.file && (m.file.startsWith('/media/') ? `${m.file}?token=${encodeURIComponent(token)}` : m.file);
  return (
    <div class={`bubble ${m.type} ${m.status}`} data-message={m.uuid}>
      {file && (images.test(m.file!) ? <img src={file} alt="" loading="lazy" /> : <a href={file} target="_blank" rel="noreferrer">File: {m.file!.split('/').pop()}</a>)}
      {m.message && <p>{m.message}</p>}
      <span class="meta">
        {new Date(m.created_at).toLocaleTimeString()}
        {m.type === 'sent' && <span class={`tick ${m.status}`} title={m.status} data-status={m.status}> {ticks[m.status]}</span>}
      </span>
    </div>
  );
}

const draft = signal('');
const file = signal<File | null>(null);
const progress = signal<number | null>(null);
const sendError = signal<string | null>(null);

function Composer({ desk, token }: { desk: string; token: string }) {
  const input = useRef<HTMLInputElement>(null);
  const send = async (e?: Event) => {
    e?.preventDefault();
    const text = draft.value.trim();
    if (!text && !file.value) return;
    sendError.value = null;
    try {
      if (file.value) {
        progress.value = 0;
        upsert(await sendFile(token, desk, file.value, text, (f) => (progress.value = f)));
      } else {
        const { data, error } = await restClient().POST('/api/send-message/', { body: { help_desk: desk, message: text } });
        if (error) throw new Error(error.error.message);
        upsert(data);
      }
      draft.value = '';
      file.value = null;
      if (input.current) input.current.value = '';
    } catch (err) {
      sendError.value = (err as Error).message;
    } finally {
      progress.value = null;
    }
  };
  return (
    <form class="composer" onSubmit={send}>
      {sendError.value && <p class="error" role="alert">{sendError.value}</p>}
      {progress.value !== null && <progress value={progress.value} max={1} aria-label="Upload" />}
      <div class="row">
        <label class="attach" title="Attach a file">
          + File
          <input ref={input} type="file" name="file" aria-label="Attach a file" onChange={(e) => (file.value = e.currentTarget.files?.[0] ?? null)} />
        </label>
        <textarea
          name="message"
          rows={1}
          placeholder={file.value ? `${file.value.name}: add a caption` : 'Write a message (Enter sends)'}
          value={draft.value}
          onInput={(e) => (draft.value = e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) void send(e);
          }}
        />
        <button type="submit" disabled={progress.value !== null}>
          Send
        </button>
      </div>
    </form>
  );
}
