/** One event for the sockets of one organization, ready to send. */
export interface DeskEvent {
  organization: string;
  /** The event's place in commit order (events.position): what clients resume from. */
  position: number;
  /**
   * The frame agents receive, made by PostgreSQL (deskwire.frame):
   * {"type", "data": "<object as a JSON string>", "id": "<position>"}.
   */
  frame: string;
}

export const organizationName = /^[A-Za-z0-9_.-]{1,64}$/;

/** Tells a resuming client its `since` is out of reach: reload over REST, then go on live. */
export const resyncFrame = JSON.stringify({ type: 'resync_required' });
