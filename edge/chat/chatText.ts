import { ErrorCode, SignalingError } from '../../proto/signaling/errors';
import { MAX_CHAT_CHARS } from '../../proto/signaling/messages';

// Control characters other than tab and newline have no place in chat text.
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f) return true;
  }
  return false;
}

/** Checks a chat text: not empty, not too long, well-formed Unicode, no control characters. */
export function checkChatText(text: string): string {
  if (text.trim().length === 0) throw new SignalingError(ErrorCode.BadRequest, 'chat text is empty');
  if (text.length > MAX_CHAT_CHARS)
    throw new SignalingError(
      ErrorCode.TooLarge,
      `chat text is ${text.length} characters; the limit is ${MAX_CHAT_CHARS}`,
    );
  if (!isWellFormed(text))
    throw new SignalingError(ErrorCode.BadRequest, 'chat text is not well-formed Unicode');
  if (hasControlCharacter(text))
    throw new SignalingError(ErrorCode.BadRequest, 'chat text contains control characters');
  return text;
}

// String.prototype.isWellFormed is Node 20+, but not in the ES2023 lib types.
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}
