"""The framework side of the master: subscribe, failover, teardown, and their limits.

A framework is one record that outlives its stream: a closed stream leaves it inactive
until it subscribes again or its failover timeout runs out, and only then is it torn
down. Torn-down frameworks are remembered (for /state, and to refuse their ids), but only
the newest `max_removed_frameworks` of them, and at most `max_frameworks` are held at
once: no client can make either grow without bound.
"""

from __future__ import annotations

from dataclasses import replace

from master import commands as C
from master import events as E
from master.records import FrameworkRecord

# Frameworks that may be subscribed (or waited for) at once, and removed ones remembered
# (for /state and to refuse their ids): both bounded so that no client makes them grow.
DEFAULT_MAX_FRAMEWORKS = 100
DEFAULT_MAX_REMOVED_FRAMEWORKS = 100


class FrameworkSide:
    """Handlers for framework lifecycle calls; a mixin of `master.core.Master`.

    State: writes `frameworks`, `_removed`, `_refuse_until` and `_unacked` (a torn-down
    framework's), `_held` (forgotten frameworks), `_dirty`; reads `tasks`, `agents`,
    `max_frameworks`, `max_removed_frameworks`, `reregister_seconds`. Uses `_kill`
    (updates), `_drop_offers_of` (offer book), and `_complete` and `_forget_completed_of`
    (a torn-down framework's ended tasks are complete; a forgotten one's history goes).
    """

    def check_subscribe(self, framework_id: str | None) -> tuple[int, str] | None:
        """Why a SUBSCRIBE may not be made (HTTP status, message), or None."""
        fw = self.frameworks.get(framework_id) if framework_id else None
        if fw is not None and fw.removed:
            return 403, f"framework {framework_id} has been torn down"
        if fw is None and self.max_frameworks is not None:
            held = sum(1 for f in self.frameworks.values() if not f.removed)
            if held >= self.max_frameworks:
                return 503, (f"the master already holds {held} frameworks, its maximum "
                             f"(--max-frameworks {self.max_frameworks}); tear one down or "
                             "raise the limit")
        return None

    def check_call(self, framework_id: str | None, stream_id: str | None) -> tuple[int, str] | None:
        """Why a non-SUBSCRIBE call may not be made (HTTP status, message), or None."""
        if not framework_id:
            return 400, "framework_id: is required for every call but SUBSCRIBE"
        fw = self.frameworks.get(framework_id)
        if fw is None or fw.removed:
            return 403, f"framework {framework_id} is not subscribed"
        if not stream_id:
            return 400, "Mesos-Stream-Id: every call but SUBSCRIBE needs this header"
        if not fw.active or fw.stream_id != stream_id:
            return 400, (f"Mesos-Stream-Id: {stream_id} is not the stream currently "
                         f"subscribed for framework {framework_id}")
        return None

    def _on_subscribe(self, ev: E.Subscribe) -> list[object]:
        now = self.clock()
        fid = ev.framework_id or self._ids()
        old = self.frameworks.get(fid)
        out: list[object] = []
        refusal = self.check_subscribe(fid)
        if refusal is not None:  # no SendSubscribed: the adapter answers with the refusal
            return [C.CloseStream(fid, ev.stream_id, refusal[1])]
        if old is not None and old.active and old.stream_id:
            out.append(C.CloseStream(fid, old.stream_id, "framework failed over"))
        fw = FrameworkRecord(
            id=fid, name=ev.name, user=ev.user, roles=ev.roles, capabilities=ev.capabilities,
            info=dict(ev.info), registered_at=old.registered_at if old else now, active=True,
            suppressed=old.suppressed if old else False, stream_id=ev.stream_id)
        self.frameworks[fid] = fw
        out.append(C.SaveFramework(fw))
        out.append(C.SendSubscribed(fid, ev.stream_id, self.framework_heartbeat_seconds))
        for update, _, _ in list(self._unacked.values()):
            if update.framework_id == fid:
                out.append(C.SendUpdate(fid, update))
        self._dirty.update(self.agents)
        return out

    def _on_stream_closed(self, ev: E.StreamClosed) -> list[object]:
        fw = self.frameworks.get(ev.framework_id)
        if fw is None or fw.stream_id != ev.stream_id:
            return []
        self.frameworks[fw.id] = replace(fw, active=False, stream_id=None,
                                         disconnected_at=self.clock())
        out = self._drop_offers_of(fw.id, rescind=False)
        if fw.failover_timeout == 0:  # Mesos: 0 means no failover; gone with its stream
            return out + self._on_teardown(E.Teardown(fw.id))
        return [C.SaveFramework(self.frameworks[fw.id]), *out]

    def _on_teardown(self, ev: E.Teardown) -> list[object]:
        fw = self.frameworks.get(ev.framework_id)
        if fw is None or fw.removed:
            return []
        out: list[object] = []
        for task in list(self.tasks.values()):
            if task.framework_id == fw.id and not task.state.terminal:
                out += self._kill(task, "framework torn down")
        out += self._drop_offers_of(fw.id, rescind=False)
        refused = self._refuse_until.pop(fw.id, None)
        if refused is not None:  # never refused again: removed frameworks get no offers
            self._journal.release(refused)
        for uuid in [u for u, held in self._unacked.items() if held[0].framework_id == fw.id]:
            del self._unacked[uuid]
        for task in [t for t in self.tasks.values()  # ended: no one acknowledges it now
                     if t.framework_id == fw.id and t.state.terminal]:
            out += self._complete(task)
        self.frameworks[fw.id] = replace(fw, removed=True, active=False, stream_id=None)
        out.append(C.SaveFramework(self.frameworks[fw.id]))
        self._removed[fw.id] = next(self._removals)
        out += self._forget_removed()
        if fw.stream_id:
            out.append(C.CloseStream(fw.id, fw.stream_id, "framework torn down"))
        self._dirty.update(self.agents)
        return out

    def _forget_removed(self) -> list[object]:
        """Forget the oldest removed frameworks beyond `max_removed_frameworks`."""
        out: list[object] = []
        excess = len(self._removed) - self.max_removed_frameworks
        if excess > 0:
            for fid in sorted(self._removed, key=self._removed.__getitem__)[:excess]:
                del self._removed[fid]
                self.frameworks.pop(fid, None)
                self._held.pop(fid, None)
                out += self._forget_completed_of(fid)
                out.append(C.ForgetFramework(fid))
        return out

    def _expire_failovers(self, now: float) -> list[object]:
        """Tear down the disconnected frameworks whose failover timeout has run out."""
        out: list[object] = []
        for fw in list(self.frameworks.values()):
            timeout = fw.failover_timeout
            if timeout == 0:  # disconnected by a restart rather than by a closed stream
                timeout = self.reregister_seconds
            if not fw.active and not fw.removed and timeout is not None \
                    and fw.disconnected_at is not None and now - fw.disconnected_at >= timeout:
                out += self._on_teardown(E.Teardown(fw.id))
        return out
