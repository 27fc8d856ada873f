ALTER TABLE "messages" ADD COLUMN "vote" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- A message is a vote when the execution it names is the feedback agent's: the typed "+1" and the 👍 click it
-- started (the execution of its first target), and that execution's acknowledgement.
UPDATE "messages" AS m SET "vote" = true
FROM "executions" AS e
WHERE e."id" = m."execution_id" AND e."agent" = 'feedback';
