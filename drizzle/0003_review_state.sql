CREATE TABLE "review_state" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"repo" text NOT NULL,
	"pr" integer NOT NULL,
	"fingerprint" text NOT NULL,
	"head_sha" text NOT NULL,
	"execution_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "review_state_repo_pr_fingerprint_key" ON "review_state" USING btree ("repo","pr","fingerprint");--> statement-breakpoint
CREATE INDEX "review_state_repo_pr_idx" ON "review_state" USING btree ("repo","pr","created_at");