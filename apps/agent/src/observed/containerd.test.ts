import { describe, expect, it } from "vitest";
import { parseContainerdEvent, parseTaskList } from "./containerd";

// What containerd 1.6's ctr printed on this machine (apps/agent/test/observed.containerd.int.test.ts runs the real one).
describe("reading ctr", () => {
  it("an event line: namespace, topic and the container it is about", () => {
    expect(parseContainerdEvent('2026-12-07 21:31:55.518110456 +0000 UTC default /tasks/start {"container_id":"sytest-c3","pid":29180}')).toEqual({ namespace: "default", topic: "/tasks/start", id: "sytest-c3" });
    expect(parseContainerdEvent('2026-12-07 21:31:57.458762623 +0000 UTC k8s.io /containers/delete {"id":"abc"}')).toEqual({ namespace: "k8s.io", topic: "/containers/delete", id: "abc" });
    expect(parseContainerdEvent("2026-12-07 21:31:57.4 +0000 UTC default /snapshot/remove {not json")).toBeNull();
    expect(parseContainerdEvent("ctr: failed to dial")).toBeNull();
  });
  it("the task list: each task's status, lower case; the header and blank lines skipped", () => {
    expect(parseTaskList("TASK         PID      STATUS    \nsytest-c1    28720    RUNNING\nweb          0        STOPPED\n\n")).toEqual(
      new Map([
        ["sytest-c1", "running"],
        ["web", "stopped"],
      ]),
    );
  });
});
