// A binary min-heap on a plain array (the balancers' schedulers and the Maglev build): no allocation per operation.
export function heapify<T>(heap: T[], compare: (a: T, b: T) => number): void {
  for (let i = (heap.length >>> 1) - 1; i >= 0; i--) siftDown(heap, i, compare);
}

export function siftDown<T>(heap: T[], i: number, compare: (a: T, b: T) => number): void {
  const item = heap[i]!;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= heap.length) break;
    if (child + 1 < heap.length && compare(heap[child + 1]!, heap[child]!) < 0) child++;
    if (compare(heap[child]!, item) >= 0) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = item;
}

export function pushHeap<T>(heap: T[], item: T, compare: (a: T, b: T) => number): void {
  let i = heap.length;
  heap.push(item);
  while (i > 0) {
    const parent = (i - 1) >>> 1;
    if (compare(heap[parent]!, item) <= 0) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = item;
}

export function popHeap<T>(heap: T[], compare: (a: T, b: T) => number): T {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    siftDown(heap, 0, compare);
  }
  return top;
}
