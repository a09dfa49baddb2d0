/** WatchCreateRequest filters: NOPUT and NODELETE drop events of that type for one watcher. */
import { type Event, Event_EventType } from "../../proto/gen/mvccpb/kv_pb.ts";
import { WatchCreateRequest_FilterType } from "../../proto/gen/etcdserverpb/rpc_pb.ts";

/** What a watcher drops. Both false (the common case) lets the hub skip filtering entirely. */
export interface EventFilter {
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

/** The four possible filters, shared by all watchers (one object fewer per watcher). */
const FILTERS: readonly EventFilter[] = [
  { noPut: false, noDelete: false },
  { noPut: true, noDelete: false },
  { noPut: false, noDelete: true },
  { noPut: true, noDelete: true },
];

/** The filter a create request asks for; unknown filter values are ignored, as etcd does. */
export function eventFilter(filters: readonly WatchCreateRequest_FilterType[]): EventFilter {
  const noPut = filters.includes(WatchCreateRequest_FilterType.NOPUT) ? 1 : 0;
  const noDelete = filters.includes(WatchCreateRequest_FilterType.NODELETE) ? 2 : 0;
  return FILTERS[noPut + noDelete];
}

/** Whether a watcher with filter `f` wants event `ev`. */
export function passes(f: EventFilter, ev: Event): boolean {
  return ev.type === Event_EventType.PUT ? !f.noPut : !f.noDelete;
}

/** Whether `f` drops anything at all. */
export function filtersAny(f: EventFilter): boolean {
  return f.noPut || f.noDelete;
}
