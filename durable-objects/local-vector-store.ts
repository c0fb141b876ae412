import { DurableObject } from "cloudflare:workers";

export class LocalVectorStore extends DurableObject<Env> {}
