import type { Message } from '../../client/src/index.ts';
import { restUrl } from './config.ts';

/**
 * A message with a file, as multipart, reporting upload progress (fetch cannot):
 * resolves with the stored Message, rejects with the API's error message.
 */
export function sendFile(token: string, desk: string, file: File, text: string, progress: (fraction: number) => void): Promise<Message> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('help_desk', desk);
    if (text) form.append('message', text);
    form.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${restUrl}/api/send-message/`);
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201) resolve(body as Message);
      else reject(new Error((body as { error?: { message?: string } } | null)?.error?.message ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error('the connection failed during the upload'));
    xhr.send(form);
  });
}
