CREATE TABLE "access_audit" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"channel" text,
	"subject" text,
	"detail" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "access_pairings" (
	"code" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"subject" text NOT NULL,
	"scope" text NOT NULL,
	"user_name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "access_rules" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"channel" text NOT NULL,
	"kind" text NOT NULL,
	"subject" text NOT NULL,
	"note" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "required_role" text DEFAULT 'member' NOT NULL;--> statement-breakpoint
CREATE INDEX "access_audit_at_idx" ON "access_audit" USING btree ("at");--> statement-breakpoint
CREATE UNIQUE INDEX "access_pairings_channel_subject_key" ON "access_pairings" USING btree ("channel","subject");--> statement-breakpoint
CREATE INDEX "access_pairings_expires_idx" ON "access_pairings" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "access_rules_channel_kind_subject_key" ON "access_rules" USING btree ("channel","kind",lower("subject"));--> statement-breakpoint
CREATE INDEX "executions_user_idx" ON "executions" USING btree ("channel","user_id","created_at");--> statement-breakpoint
-- status shows every tenant's failures: it needs the admin role by default (operators may relax it).
UPDATE "agents" SET "required_role" = 'admin' WHERE "name" = 'status';