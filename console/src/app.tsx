import { signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { config } from './config.ts';
import { Conversation } from './conversation.tsx';
import { DeskList } from './desks.tsx';
import { loadSession, saveSession, type Session, sessionOf } from './session.ts';
import { loadError, selected, start, status, stop } from './store.ts';

const session = signal<Session | null>(loadSession());

export function App() {
  useEffect(() => {
    if (session.value) void start(session.value);
    return stop;
  }, [session.value]);
  if (!session.value) return <SignIn />;
  const s = session.value;
  return (
    <div class={`shell${selected.value ? ' has-desk' : ''}`}>
      <header>
        <strong>deskwire</strong>
        <span class="who">
          {s.organization}
          {s.sub ? ` · ${s.sub}` : ''}
        </span>
        <button
          type="button"
          onClick={() => {
            saveSession(null);
            session.value = null;
          }}
        >
          Sign out
        </button>
      </header>
      {status.value !== 'open' && (
        <div class="banner" role="status">
          {status.value === 'closed' ? 'Disconnected.' : 'Reconnecting… messages written meanwhile will appear.'}
        </div>
      )}
      {loadError.value && (
        <div class="banner error" role="alert">
          {loadError.value}
        </div>
      )}
      <main>
        <DeskList />
        <Conversation session={s} />
      </main>
    </div>
  );
}

const tokenInput = signal(config.demoToken ?? '');
const orgInput = signal('');
const signInError = signal<string | null>(null);

function SignIn() {
  const isKey = tokenInput.value.startsWith('dwk_');
  const submit = (e: Event) => {
    e.preventDefault();
    const s = sessionOf(tokenInput.value.trim(), orgInput.value.trim() || undefined);
    if (!s) {
      signInError.value = isKey ? 'An API key needs its organization.' : 'That is not a token (a JWT with an org claim) or an API key.';
      return;
    }
    signInError.value = null;
    saveSession(s);
    session.value = s;
  };
  return (
    <form class="signin" onSubmit={submit}>
      <h1>deskwire</h1>
      <label>
        Token or API key
        <textarea name="token" rows={4} required value={tokenInput.value} onInput={(e) => (tokenInput.value = e.currentTarget.value)} />
      </label>
      {isKey && (
        <label>
          Organization
          <input name="organization" required value={orgInput.value} onInput={(e) => (orgInput.value = e.currentTarget.value)} />
        </label>
      )}
      {config.demoToken && <p class="hint">Embedded demo: a token of the organization "demo" is filled in.</p>}
      {signInError.value && <p class="error" role="alert">{signInError.value}</p>}
      <button type="submit">Sign in</button>
    </form>
  );
}
