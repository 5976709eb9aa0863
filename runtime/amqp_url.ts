/**
 * An AMQP URL that asks for heartbeats every `seconds` unless it says
 * otherwise (`?heartbeat=`): a peer that stops answering, RabbitMQ or a
 * service whose host vanished, is then noticed by the other side within
 * about two heartbeats instead of when TCP gives up, hours later.
 */
export function withHeartbeat(url: string, seconds: number): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has("heartbeat")) {
      parsed.searchParams.set("heartbeat", String(seconds));
    }
    return parsed.toString();
  } catch {
    return url;
  }
}
