"use client";

import { Field } from "./field";
import { CHAINED_PLUGINS, MAIN_PLUGINS, MODES, type NetworkFormValues } from "./network-form-model";

type Errors = Partial<Record<keyof NetworkFormValues, string>>;

export function NetworkForm(props: { value: NetworkFormValues; onChange: (v: NetworkFormValues) => void; errors: Errors; nameLocked?: boolean }) {
  const { value: v, onChange, errors } = props;
  const set = <K extends keyof NetworkFormValues>(key: K, val: NetworkFormValues[K]) => onChange({ ...v, [key]: val });
  const text = (key: "name" | "bridge" | "master" | "mtu" | "subnet" | "gateway" | "rangeStart" | "rangeEnd", label: string, hint?: string) => (
    <Field label={label} error={errors[key]} hint={hint}>
      <input value={v[key]} onChange={(e) => set(key, e.target.value)} aria-invalid={Boolean(errors[key])} style={{ width: "100%" }} />
    </Field>
  );
  return (
    <div className="panel">
      <div className="grid2">
        {text("name", "Network name", "Letters, digits, '.', '_' and '-'")}
        <Field label="CNI version" error={errors.cniVersion}>
          <select value={v.cniVersion} onChange={(e) => set("cniVersion", e.target.value)}>
            {["1.1.0", "1.0.0", "0.4.0", "0.3.1"].map((x) => <option key={x}>{x}</option>)}
          </select>
        </Field>
        <Field label="Plugin">
          <select value={v.type} onChange={(e) => onChange({ ...v, type: e.target.value as NetworkFormValues["type"], mode: "" })}>
            {MAIN_PLUGINS.map((p) => <option key={p}>{p}</option>)}
          </select>
        </Field>
        {text("mtu", "MTU", "Empty for the default")}
        {v.type === "bridge" && text("bridge", "Bridge device", "e.g. cni0; at most 15 characters")}
        {(v.type === "macvlan" || v.type === "ipvlan") && (
          <>
            {text("master", "Master interface", "Empty for the default-route interface")}
            <Field label="Mode" error={errors.mode}>
              <select value={v.mode} onChange={(e) => set("mode", e.target.value)}>
                <option value="">default</option>
                {MODES[v.type]!.map((m) => <option key={m}>{m}</option>)}
              </select>
            </Field>
          </>
        )}
      </div>
      {(v.type === "bridge" || v.type === "ptp") && (
        <div className="row" style={{ marginBottom: 10 }}>
          {v.type === "bridge" && (
            <label className="row" style={{ margin: 0 }}>
              <input type="checkbox" checked={v.isGateway} onChange={(e) => set("isGateway", e.target.checked)} /> Bridge is the gateway
            </label>
          )}
          <label className="row" style={{ margin: 0 }}>
            <input type="checkbox" checked={v.ipMasq} onChange={(e) => set("ipMasq", e.target.checked)} /> Masquerade outbound traffic
          </label>
        </div>
      )}
      <h2>IPAM (host-local)</h2>
      <div className="grid2">
        {text("subnet", "Subnet", "e.g. 10.88.0.0/16 or fd00:88::/64")}
        {text("gateway", "Gateway", "Inside the subnet; empty for the first address")}
        {text("rangeStart", "Range start")}
        {text("rangeEnd", "Range end")}
      </div>
      <label className="row">
        <input type="checkbox" checked={v.defaultRoute} onChange={(e) => set("defaultRoute", e.target.checked)} /> Add a default route
      </label>
      <h2>Chained plugins</h2>
      <div className="row">
        {CHAINED_PLUGINS.map((p) => (
          <label key={p} className="row" style={{ margin: 0 }}>
            <input type="checkbox" checked={v.chained[p]} onChange={(e) => set("chained", { ...v.chained, [p]: e.target.checked })} /> {p}
          </label>
        ))}
      </div>
    </div>
  );
}
