"""Which actions a staff member may take on a request now, and what the next step is.

One registry (`RULES`) for the staff pages and the staff API. Each action names
the role it needs (`permissions.Action`), the statuses and kinds in which its
service accepts it, and, where the service checks more (an unproven match, an
undecided correction, a package not built yet), a predicate that asks the same
question the service asks, from the same constants and checks
(`services.staff.APPROVABLE`, `services.fulfilment.DECIDABLE`,
`fulfilment_approval_check`, ...). So the page never offers what the service
would refuse, and never hides what it would allow.

`request_actions_allowed(user=..., request=...)` answers with the action names
in page order; `action_run(name, request=..., actor=..., data=...)` takes one
through its service (each rule's `run`), with a page form's cleaned data or an
API body's validated data (the same keys); `request_next_step(...)` says, in one
sentence, what should happen next and who does it; `request_progress(...)` what a running worker has
done so far (the page polls it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from requests_app import deadlines
from requests_app.models import (
    DataPackage,
    Fulfilment,
    RequestKind,
    RequestStatus,
    RequestSubjectMatch,
    RestrictionLift,
    SubjectRequest,
)
from requests_app.permissions import Action, user_can
from requests_app.selectors.fulfilment import fulfilment_failure
from requests_app.services import fulfilment as ff
from requests_app.services import packages as pk
from requests_app.services import staff as st
from requests_app.services.workflow import StaffActionError
from retention.models import Record, RecordStoreJob

S = RequestStatus
K = RequestKind
ALL_KINDS = tuple(K.values)


class Facts:
    """What the predicates read about one request, each fetched once, on first use."""

    def __init__(self, request: SubjectRequest):
        self.request = request
        self._cache: dict[str, object] = {}

    def _once(self, key: str, compute: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def has_matches(self) -> bool:
        return self._once(
            "matches", RequestSubjectMatch.objects.filter(request=self.request).exists
        )

    @property
    def approval_blocked(self) -> bool:
        """The checks `staff.request_approve` makes after the status (read-only)."""

        def blocked() -> bool:
            try:
                st.identities_proven_require(self.request)
                ff.fulfilment_approval_check(request=self.request)
            except StaffActionError:
                return True
            return False

        return self._once("approval_blocked", blocked)

    @property
    def completes_itself(self) -> bool:
        """`staff.request_complete` refuses (the fulfilment completes the request)."""

        def refused() -> bool:
            try:
                ff.fulfilment_completion_check(request=self.request)
            except StaffActionError:
                return True
            return False

        return self._once("completes_itself", refused)

    @property
    def extendable(self) -> bool:
        """Not extended yet, and the original due date has not passed (Art. 12(3))."""
        r = self.request
        today = deadlines.local_date(timezone.now(), r.organisation.time_zone)
        return r.extended_due_date is None and today <= r.original_due_date

    @property
    def job(self) -> RecordStoreJob | None:
        def fetch():
            job_id = (
                Fulfilment.objects.filter(request=self.request)
                .values_list("job_id", flat=True)
                .first()
            )
            return (
                RecordStoreJob.objects.defer("plan").filter(pk=job_id).first() if job_id else None
            )

        return self._once("job", fetch)

    @property
    def package(self) -> DataPackage | None:
        return self._once("package", DataPackage.objects.filter(request=self.request).first)

    @property
    def failed(self) -> bool:
        return self._once("failed", lambda: fulfilment_failure(request=self.request) is not None)

    @property
    def liftable(self) -> bool:
        """A restriction of this request is in force and nobody has asked to lift it."""

        def compute() -> bool:
            if RestrictionLift.objects.filter(request=self.request).exists():
                return False
            return Record.objects.filter(
                organisation_id=self.request.organisation_id,
                restricted_at__isnull=False,
                restriction_references__contains=[self.request.reference],
            ).exists()

        return self._once("liftable", compute)


@dataclass(frozen=True)
class Rule:
    """An action on a request: who may take it, in which statuses and kinds, and what else."""

    permission: Action
    statuses: tuple
    kinds: tuple = ALL_KINDS
    check: Callable[[Facts], bool] = field(default=lambda facts: True)
    # The service call, with the data of the page's form or of the API's body (same keys).
    run: Callable[[SubjectRequest, Any, dict], Any] | None = field(default=None, kw_only=True)


def _release_package(r: SubjectRequest, u, d: dict) -> None:
    package = DataPackage.objects.filter(request=r).first()
    if package is None:  # not approved yet, or the worker has not started the build
        raise StaffActionError(
            _("Only a package that is built and not yet released can be released."),
            code="package_not_ready",
        )
    pk.package_release(package=package, actor=u)


def _decide_correction(r: SubjectRequest, u, d: dict):
    return ff.correction_decide(
        request=r,
        actor=u,
        index=d["index"],
        accepted=d["decision"] == "accept",
        target=d["target"],
        value=d["value"],
        reason=d["reason"],
    )


def _decide_objection(r: SubjectRequest, u, d: dict):
    return ff.objection_decide(
        request=r, actor=u, purpose_key=d["purpose"], compelling=d["compelling"], reason=d["reason"]
    )


def _confirm_identity(r: SubjectRequest, u, d: dict):
    return st.request_identity_confirm(
        request=r, actor=u, method=d["method"], note=d["note"], match_id=d["match"]
    )


# Page order: the decisions first, the everyday actions after, the danger ones last.
RULES: dict[str, Rule] = {
    "approve": Rule(
        Action.APPROVE,
        st.APPROVABLE,
        check=lambda x: not x.approval_blocked,
        run=lambda r, u, d: st.request_approve(request=r, actor=u),
    ),
    "approve_plan": Rule(
        Action.APPROVE,
        (S.APPROVED,),
        (K.ERASURE,),
        lambda x: x.job is not None and x.job.state == RecordStoreJob.State.PLANNED,
        run=lambda r, u, d: ff.erasure_plan_approve(request=r, actor=u),
    ),
    "release_package": Rule(
        Action.RELEASE_PACKAGE,
        (S.FULFILLING,),
        (K.ACCESS, K.PORTABILITY),
        lambda x: x.package is not None and x.package.state == DataPackage.State.READY,
        run=_release_package,
    ),
    "retry": Rule(
        Action.RETRY_FULFILMENT,
        (S.FULFILLING,),
        (K.ERASURE, K.ACCESS, K.PORTABILITY),
        lambda x: x.failed,
        run=lambda r, u, d: ff.fulfilment_retry(request=r, actor=u),
    ),
    "complete": Rule(
        Action.COMPLETE,
        st.COMPLETABLE,
        check=lambda x: not x.completes_itself,
        run=lambda r, u, d: st.request_complete(request=r, actor=u, reply=d["reply"]),
    ),
    "match": Rule(Action.VERIFY_IDENTITY, st.IDENTITY_CHECKABLE, check=lambda x: x.has_matches),
    "identity": Rule(
        Action.VERIFY_IDENTITY,
        st.IDENTITY_CHECKABLE,
        check=lambda x: x.has_matches,
        run=_confirm_identity,
    ),
    "correction": Rule(Action.DECIDE, ff.DECIDABLE, (K.RECTIFICATION,), run=_decide_correction),
    "objection": Rule(Action.DECIDE, ff.DECIDABLE, (K.OBJECTION,), run=_decide_objection),
    "assign": Rule(
        Action.ASSIGN,
        st.ASSIGNABLE,
        run=lambda r, u, d: st.request_assign(request=r, actor=u, assignee=d["assignee"]),
    ),
    "unassign": Rule(
        Action.ASSIGN,
        st.ASSIGNABLE,
        check=lambda x: x.request.assignee_id is not None,
        run=lambda r, u, d: st.request_unassign(request=r, actor=u),
    ),
    "ask": Rule(
        Action.ASK_INFO,
        st.ASKABLE,
        run=lambda r, u, d: st.request_information_ask(request=r, actor=u, question=d["question"]),
    ),
    "extend": Rule(
        Action.EXTEND,
        st.EXTENDABLE,
        check=lambda x: x.extendable,
        run=lambda r, u, d: st.request_deadline_extend(
            request=r, actor=u, months=d["months"], reason=d["reason"]
        ),
    ),
    "note": Rule(
        Action.NOTE,
        st.NOTABLE,
        run=lambda r, u, d: st.request_note_add(request=r, actor=u, body=d["body"]),
    ),
    "lift_restriction": Rule(
        Action.LIFT_RESTRICTION,
        (S.COMPLETED,),
        (K.RESTRICTION,),
        lambda x: x.liftable,
        run=lambda r, u, d: ff.restriction_lift_request(request=r, actor=u, reason=d["reason"]),
    ),
    "refuse": Rule(
        Action.REFUSE,
        st.REFUSABLE,
        run=lambda r, u, d: st.request_refuse(
            request=r, actor=u, reasons=d["reasons"], text=d["text"]
        ),
    ),
    "cancel": Rule(
        Action.CANCEL,
        st.CANCELLABLE,
        run=lambda r, u, d: st.request_cancel(request=r, actor=u, note=d["note"]),
    ),
}

# Buttons in the design system's danger style.
DANGER = frozenset({"refuse", "cancel", "lift_restriction"})


def action_run(name: str, *, request: SubjectRequest, actor, data: dict):
    """Take action `name` on `request` through its service, with validated `data` (a page
    form's cleaned data or an API body's validated data: the same keys). The service checks
    the permission and the state again and raises `StaffActionError` when it refuses."""
    return RULES[name].run(request, actor, data)


def action_permission(name: str) -> Action:
    """The role-ranked permission an action needs (for the view's 403 before anything else)."""
    return RULES[name].permission


def request_actions_allowed(*, user, request: SubjectRequest, facts: Facts | None = None) -> list:
    """The names of the actions `user` may take on `request` now, in page order."""
    facts = facts or Facts(request)
    return [
        name
        for name, rule in RULES.items()
        if request.status in rule.statuses
        and request.kind in rule.kinds
        and user_can(user, rule.permission, request.organisation_id)
        and rule.check(facts)
    ]
