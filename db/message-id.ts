/**
 * Ids for messages, in the order they are made: UUIDv7, monotonic within a process. History orders a conversation's
 * messages by (created_at, id), and created_at alone does not order them: messages stored in one transaction share
 * it, and on PGlite the clock moves in whole milliseconds, so a question and its answer can share it too. With
 * random ids such messages came back in any order.
 */
import { v7 } from 'uuid';

export const newMessageId = (): string => v7();
