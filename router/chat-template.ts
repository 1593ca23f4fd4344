/**
 * The plain chat template of /v1/chat/completions. The model is a byte-level language model with no
 * special tokens, so a conversation is rendered as plain text, one message per line:
 *
 *     system: You are terse.
 *     user: Hello
 *     assistant: Hi.
 *     user: Who are you?
 *     assistant: 
 *
 * i.e. `<role>: <content>\n` for each message (content as is, newlines kept), then `assistant: ` (with
 * its trailing space) for the reply, which the model continues. Generation also stops (OpenAI-style, not included in the reply) when the model starts
 * another turn: at `\nuser:` or `\nsystem:` (CHAT_STOPS), besides the request's own `stop`. Pure.
 */

export type ChatRole = 'system' | 'user' | 'assistant' | 'developer' | 'tool';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export const CHAT_ROLES: readonly ChatRole[] = ['system', 'user', 'assistant', 'developer', 'tool'];

/** Stop strings added to every chat request: the start of the next turn. */
export const CHAT_STOPS: readonly string[] = ['\nuser:', '\nsystem:'];

/** Renders the conversation as the prompt that the model continues. */
export function renderChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant: ';
}
