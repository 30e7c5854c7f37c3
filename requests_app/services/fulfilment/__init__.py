"""Carrying out a request on the record store, exactly once (Arts. 7(3), 16, 17, 18, 19, 21).

One module per concern; this package re-exports their public names:

* `dispatch`: `fulfilment_start` (which right goes where after approval), the
  checks before approval and completion, `fulfilment_retry`;
* `erasure` (Art. 17), `restriction` (Art. 18), `rectification` (Art. 16),
  `objection` (Art. 21, and withdrawal of consent, Art. 7(3)): each right's
  start and the staff decisions and actions it needs;
* `notices`: Art. 19, telling the recipients; `reply`: completing the request
  with the reply to the person; `common`: the locks, state check and audit
  entry they share.

The imports point one way (dispatch -> the rights -> notices and reply ->
common; `[tool.importlinter]` in pyproject.toml).

The flow (README, "Fulfilment"):

* Approval (`staff.request_approve`) writes an outbox message; its task calls
  `fulfilment_start`, which dispatches by kind. Access and portability go to
  `packages.package_start`. Everything else is done here, in one transaction
  per step, with the outbox message (or a unique row) as the proof that a
  step was done: a redelivered message finds it and does nothing.
* Erasure (Art. 17): `fulfilment_start` plans (`erasure_job_create`, a job in
  state `planned`); the plan is on the staff page; an approver approves it
  (`erasure_plan_approve`: re-authenticated, the job enqueued through the
  outbox, the request `fulfilling`); the worker runs the job; `job_finish`
  sends `retention.signals.job_finished` inside its transaction and
  `erasure_job_finished` completes the request there, so the reply, the
  request's completion and the Art. 19 notices happen exactly once with it.
* A worker that gives up (an erasure job `failed` after JOB_MAX_ATTEMPTS, or a
  package that could not be built) leaves the request `fulfilling`: the staff
  page and API show it, and an approver hands it to the workers again once the
  cause is fixed (`fulfilment_retry`).
* Restriction (Art. 18), rectification (Art. 16), objection to
  legitimate-interest purposes (Art. 21(1)): done and completed by
  `fulfilment_start`, from the decisions staff recorded before approving
  (`correction_decide`, `objection_decide`). Lifting a restriction tells the
  person first (Art. 18(3)): `restriction_lift_request` ->
  `restriction_lift_notice_send` -> `restriction_lift_carry_out`.
* Objection to direct marketing (Art. 21(3)) and withdrawal of consent
  (Art. 7(3)) are honoured as soon as the e-mail address is verified, without
  staff (`fulfilment_on_verified` -> `fulfilment_honour`): a withdrawal must
  be as easy as giving consent, and a marketing objection is absolute. Only
  subjects matched by the verified address are acted on automatically. A
  request in which the person also typed a personnummer or customer number,
  or that also objects to other purposes, then waits for staff, who approve
  the rest: whether a typed identifier matched anyone never shows in what the
  person sees (no oracle).
* Whose data: every step takes its subjects from
  `match_selectors.request_subject_ids` (included and proven), nothing else.
* Legal holds win: a held record is restricted instead of erased or changed
  (`retention.services.rights`), and the reply says some data is kept under a
  legal hold. An accepted correction to a held or Art. 18-restricted record is
  recorded (`CorrectionDecision.withheld`), not applied, and the reply says why.
* Art. 19: after an erasure, rectification or restriction that changed
  anything, every recipient the changed data was disclosed to gets one
  e-mail per change (`RecipientNotification`, unique per request, recipient
  and change); a recipient without an address is logged and shown to staff.
  The reply to the person lists them.

The reply to the person is rendered in their language from what was done
(`Fulfilment.outcome`), stored as the request's resolution text and sent
with the `request_completed` e-mail (`staff.staff_notification_send`).
"""

from requests_app.services.fulfilment.common import DECIDABLE, outbox_message_complete
from requests_app.services.fulfilment.dispatch import (
    COMPLETED_BY_FULFILMENT,
    STARTERS,
    fulfilment_approval_check,
    fulfilment_completion_check,
    fulfilment_retry,
    fulfilment_start,
)
from requests_app.services.fulfilment.erasure import (
    ERASURE_RUN_TASK,
    erasure_job_finished,
    erasure_plan_approve,
)
from requests_app.services.fulfilment.notices import RECIPIENT_TASK, recipient_notify
from requests_app.services.fulfilment.objection import (
    HONOUR_TASK,
    HONOURABLE,
    fulfilment_honour,
    fulfilment_on_verified,
    objection_decide,
)
from requests_app.services.fulfilment.rectification import correction_decide
from requests_app.services.fulfilment.reply import FINISHABLE, reply_context, reply_text
from requests_app.services.fulfilment.restriction import (
    LIFT_NOTICE_TASK,
    LIFT_TASK,
    RESTRICTION_GROUND_CODES,
    restriction_lift_carry_out,
    restriction_lift_notice_send,
    restriction_lift_request,
)

__all__ = [
    "COMPLETED_BY_FULFILMENT",
    "DECIDABLE",
    "ERASURE_RUN_TASK",
    "FINISHABLE",
    "HONOURABLE",
    "HONOUR_TASK",
    "LIFT_NOTICE_TASK",
    "LIFT_TASK",
    "RECIPIENT_TASK",
    "RESTRICTION_GROUND_CODES",
    "STARTERS",
    "correction_decide",
    "erasure_job_finished",
    "erasure_plan_approve",
    "fulfilment_approval_check",
    "fulfilment_completion_check",
    "fulfilment_honour",
    "fulfilment_on_verified",
    "fulfilment_retry",
    "fulfilment_start",
    "objection_decide",
    "outbox_message_complete",
    "recipient_notify",
    "reply_context",
    "reply_text",
    "restriction_lift_carry_out",
    "restriction_lift_notice_send",
    "restriction_lift_request",
]
