// The worker's one line back to the page: every module reports through emit()
// (event types in ../shared.js), which init() connects to the page's callback.

let sink = () => {};

/** Connects the page's onEvent (a Comlink proxy). Fire and forget: a closed page
 *  must not leave rejected promises behind. */
export function connect(onEvent) {
  sink = (e) => { Promise.resolve(onEvent(e)).catch(() => {}); };
}

export function emit(event) {
  sink(event);
}

// A task boundary without setTimeout's 4 ms clamp for nested timers: a
// MessageChannel message is an ordinary task, so Comlink messages queued
// meanwhile run first.
const yieldChannel = new MessageChannel();
const yieldWaiters = [];
yieldChannel.port1.onmessage = () => yieldWaiters.shift()?.();
export function yieldToEventLoop() {
  return new Promise((resolve) => {
    yieldWaiters.push(resolve);
    yieldChannel.port2.postMessage(null);
  });
}
