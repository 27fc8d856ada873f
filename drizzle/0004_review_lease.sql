ALTER TABLE "review_state" ADD COLUMN "locked_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "review_state" ADD COLUMN "locked_by" uuid;