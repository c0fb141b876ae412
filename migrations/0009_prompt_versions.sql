-- Which registered prompt version served a request (PUT /v1/prompts/:name). NULL when the request
-- named no prompt. The report compares versions of one prompt, so the index leads with the prompt.
ALTER TABLE ledger ADD COLUMN prompt_name TEXT;
ALTER TABLE ledger ADD COLUMN prompt_version INTEGER;
CREATE INDEX ledger_prompt ON ledger(tenant_id, prompt_name, prompt_version) WHERE prompt_name IS NOT NULL;
