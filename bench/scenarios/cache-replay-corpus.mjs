// FAQ traffic for the cache-replay scenario: intents of a toll-road operator's support bot, each with a
// canonical question and paraphrases. Two phrasings of one intent are duplicates; phrasings of two
// intents are not, and several intents come in near-miss families on purpose (France / Germany,
// car / truck, Saturday / Sunday, 2 / 5 vehicles, with / without a tag), because that is where a
// semantic cache serves the wrong answer.
import { mulberry32 as prng } from "../seeded-random.mjs";

export const SYSTEM_PROMPT = "You are the support assistant of Northway Tolls. Answer in two sentences.";

export const INTENTS = [
  { id: "service-hours", phrasings: ["What are your customer service hours?", "When is customer service open?", "What time does customer support open?", "What are the opening hours of customer service?"] },
  { id: "open-saturday", phrasings: ["Is customer service open on Saturday?", "Can I call customer service on Saturday?", "Is support available on Saturday?"] },
  { id: "open-sunday", phrasings: ["Is customer service open on Sunday?", "Can I call customer service on Sunday?", "Is support available on Sunday?"] },
  { id: "reset-password", phrasings: ["How do I reset my password?", "I forgot my password, how do I reset it?", "How can I reset my password?", "How do I change my password?"] },
  { id: "change-username", phrasings: ["How do I change my username?", "How can I change my user name?", "Can I change my username?"] },
  { id: "refund-request", phrasings: ["How do I get a refund?", "How can I get a refund?", "How do I ask for a refund?", "Can I get my money back?"] },
  { id: "refund-time", phrasings: ["How long does a refund take?", "How long will my refund take?", "When will I get my refund?"] },
  { id: "toll-car", phrasings: ["How much is the toll for a car?", "What is the toll for a car?", "How much does a car pay at the toll?"] },
  { id: "toll-truck", phrasings: ["How much is the toll for a truck?", "What is the toll for a truck?", "How much does a truck pay at the toll?"] },
  { id: "capital-france", phrasings: ["What is the capital of France?", "What's the capital of France?", "Which city is the capital of France?"] },
  { id: "capital-germany", phrasings: ["What is the capital of Germany?", "What's the capital of Germany?", "Which city is the capital of Germany?"] },
  { id: "pay-card", phrasings: ["Can I pay with a credit card?", "Do you accept credit cards?", "Can I pay by credit card?"] },
  { id: "pay-paypal", phrasings: ["Can I pay with PayPal?", "Do you accept PayPal?", "Can I pay by PayPal?"] },
  { id: "install-tag", phrasings: ["How do I install my toll tag?", "Where do I put my toll tag?", "How do I mount my toll tag?"] },
  { id: "activate-tag", phrasings: ["How do I activate my toll tag?", "How can I activate my new toll tag?", "How do I turn on my toll tag?"] },
  { id: "lost-tag", phrasings: ["What should I do if I lose my toll tag?", "I lost my toll tag, what should I do?", "What do I do if my toll tag is lost?"] },
  { id: "close-account", phrasings: ["How do I close my account?", "How can I close my account?", "How do I delete my account?"] },
  { id: "open-account", phrasings: ["How do I open an account?", "How can I open an account?", "How do I create an account?"] },
  { id: "vehicles-2", phrasings: ["Can I register 2 vehicles on one account?", "Can I add 2 vehicles to one account?", "Can I put 2 cars on one account?"] },
  { id: "vehicles-5", phrasings: ["Can I register 5 vehicles on one account?", "Can I add 5 vehicles to one account?", "Can I put 5 cars on one account?"] },
  { id: "lane-with-tag", phrasings: ["Can I use the express lane with a toll tag?", "Can I drive in the express lane with a toll tag?", "Is the express lane open to drivers with a toll tag?"] },
  { id: "lane-without-tag", phrasings: ["Can I use the express lane without a toll tag?", "Can I drive in the express lane without a toll tag?", "Is the express lane open to drivers without a toll tag?"] },
  { id: "download-invoice", phrasings: ["How do I download my invoice?", "Where can I download my invoices?", "How can I download my invoice?"] },
  { id: "update-address", phrasings: ["How do I update my address?", "How can I update my mailing address?", "How do I change my address?"] },
  { id: "pay-violation", phrasings: ["How do I pay a toll violation?", "How can I pay a toll violation?", "Where do I pay a toll violation?"] },
  { id: "rental-car", phrasings: ["Do rental cars need a toll tag?", "Does a rental car need a toll tag?", "Do I need a toll tag for a rental car?"] },
  { id: "speed-camera", phrasings: ["Are there speed cameras on the toll road?", "Does the toll road have speed cameras?", "Are speed cameras used on the toll road?"] },
  { id: "monthly-statement", phrasings: ["When is my monthly statement sent?", "When do you send the monthly statement?", "What day is my monthly statement sent?"] },
];

/** mulberry32: small, fast and the same on every machine, so a seed names a trace. */

/**
 * A replayable trace: FAQ popularity is Zipf-like (a few intents dominate), each request picks a tenant
 * uniformly, and repeats the intent's canonical wording with probability `repeatShare`, otherwise one of
 * its paraphrases.
 */
export function generateTrace({ seed, requests, tenants, repeatShare = 0.5, zipf = 1.0 }) {
  const random = prng(seed);
  // Popularity is shuffled by the seed, so the near-miss pairs are not always the most or least asked.
  const order = INTENTS.map((intent) => ({ intent, r: random() })).sort((a, b) => a.r - b.r).map((x) => x.intent);
  const weights = order.map((_, rank) => 1 / (rank + 1) ** zipf);
  const total = weights.reduce((s, w) => s + w, 0);
  const pickIntent = () => {
    let x = random() * total;
    for (let i = 0; i < order.length; i++) {
      x -= weights[i];
      if (x <= 0) return order[i];
    }
    return order.at(-1);
  };
  return Array.from({ length: requests }, () => {
    const tenant = Math.floor(random() * tenants);
    const intent = pickIntent();
    const repeat = random() < repeatShare;
    const phrasing = repeat ? intent.phrasings[0] : intent.phrasings[1 + Math.floor(random() * (intent.phrasings.length - 1))];
    return { tenant, intent: intent.id, question: phrasing };
  });
}
