/**
 * The well-known prompt-injection shapes, as cheap patterns. They catch the copy-pasted attacks that
 * make up most attempts; a paraphrase gets through, which is why `flag` exists: the ledger shows what
 * was seen without refusing real users who quote an attack to ask about it.
 */
const PATTERNS: { name: string; pattern: RegExp }[] = [
  {
    name: "ignore_instructions",
    pattern: /\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|all|any|your|the|these|those|system)\b[^.\n]{0,20}?\b(?:instructions?|prompts?|rules|directions|guidelines|directives|constraints)\b/i,
  },
  {
    name: "prompt_exfiltration",
    pattern: /\b(?:reveal|show|print|repeat|output|display|leak|dump|tell me|what (?:is|are|was|were))\b[^.\n]{0,40}?\b(?:system|initial|hidden|original|developer|secret)\s+(?:prompt|instructions?|message)s?\b|\brepeat (?:everything|all|the (?:text|words)) (?:above|before)\b/i,
  },
  {
    name: "roleplay_jailbreak",
    pattern: /\bDAN\b|\bdo anything now\b|\b(?:developer|god|jailbreak|jailbroken|unrestricted|unfiltered|evil)\s+mode\b|\byou are (?:now )?(?:no longer|not) (?:bound|restricted|limited|an? AI)\b|\bpretend (?:that )?you (?:are|have) (?:no|an? (?:unrestricted|unfiltered))\b|\bact as (?:an? )?(?:unrestricted|unfiltered|jailbroken|uncensored)\b|\bwithout any (?:restrictions|filters|limitations)\b/i,
  },
  {
    name: "role_markers",
    pattern: /<\|im_start\|>|<\|(?:system|assistant)\|>|\[\/?INST\]|<<\/?SYS>>|^\s*#{0,3}\s*(?:system|assistant)\s*(?:prompt)?\s*:/im,
  },
  {
    name: "new_instructions",
    pattern: /\b(?:new|updated|real|actual|true) (?:instructions|system prompt|rules)\s*:/i,
  },
];

/** The names of the patterns `text` matches, each once. */
export function findInjection(text: string): string[] {
  return PATTERNS.filter((p) => p.pattern.test(text)).map((p) => p.name);
}
