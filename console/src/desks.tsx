import { filter, lastMessage, markSeen, selected, shown, unread } from './store.ts';

/** The desks by last activity, each with its last message; unread ones stand out. */
export function DeskList() {
  return (
    <nav class="desks" aria-label="Help desks">
      <div class="filters" role="group" aria-label="Filter">
        <button type="button" aria-pressed={filter.value === 'all'} onClick={() => (filter.value = 'all')}>
          All
        </button>
        <button type="button" aria-pressed={filter.value === 'mine'} onClick={() => (filter.value = 'mine')}>
          Assigned to me
        </button>
      </div>
      <ul>
        {shown.value.map((d) => {
          const m = lastMessage(d);
          const isUnread = unread(d);
          return (
            <li key={d.uuid}>
              <button
                type="button"
                class={`desk${selected.value === d.uuid ? ' selected' : ''}${isUnread ? ' unread' : ''}`}
                data-desk={d.uuid}
                aria-current={selected.value === d.uuid}
                onClick={() => {
                  selected.value = d.uuid;
                  markSeen(d);
                }}
              >
                <span class="name">{d.client.name || d.client.phone || 'Client'}</span>
                {isUnread && <span class="dot" aria-label="unread" />}
                <span class="last">{m ? (m.message ?? (m.file ? 'File' : '')) : 'No messages yet'}</span>
              </button>
            </li>
          );
        })}
      </ul>
      {shown.value.length === 0 && <p class="empty">{filter.value === 'mine' ? 'No desk is assigned to you.' : 'No desks yet.'}</p>}
    </nav>
  );
}
