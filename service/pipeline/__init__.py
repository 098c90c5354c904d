"""The pipeline, one step a module: handle → plan → gate → lanes → deliver → outbound →
publish.

The steps branch on return values, not exceptions. This is the whole vocabulary, defined
where named and used as written here:

    Contract.decode(bytes) ──► Accepted                  valid: plan and send
                         └──► Rejection(reason)          invalid: dead letter + `rejected`,
                                                         never retried (contract.model)
    Priority (service.priority)     critical | normal | bulk: the lane every wait is ordered by
    Urgency (lanes)                 a batch's lane and expiry, checked after every wait
    AccountRoute (route)            the event's account: its client, gate, guard, namespace
    SendGate.pass_through()                              the account's gate: closed
                                                         (insufficient_balance,
                                                         credentials_rejected, budget_exceeded,
                                                         blast_radius) or held (a breaker
                                                         open): wait, one probe; released in
                                                         lane order; with several accounts a
                                                         waiting record is parked (parking)
    SpendGuard.reserve() ──► Booking | Refusal           (accounts.guard) fits, or refused:
                                                         hold (policy hold, blast radius) or
                                                         reject (policy reject)
    SendSlots (lanes)               one per connection, taken right before the claim
    ConsentScreen (consent)         before each claim: the planned batch narrowed (same key) to
                                    the recipients consent allows; one left empty is REJECTED
                                    without a request
    Ledger.claim(key) ──► ClaimStatus                    (ledger.base)
        CLAIMED      send it
        DONE         already final: re-publish the stored result, never send
        BUSY         another owner holds a live lease: wait, ask again
        TAKEN_OVER   a lease lapsed mid-call: ambiguous, per delivery mode (or handed over)
    PushrClient.send_*() ──► ProviderResult.outcome: Outcome      (pushr.outcomes)
        ACCEPTED, REJECTED           final: complete the ledger entry
        AMBIGUOUS                    maybe sent: at_most_once → `unknown`; at_least_once → resend;
                                     with reconciliation, in both modes: handed over (handoff)
        RETRY_SAFE, BREAKER_OPEN     certainly not sent: release the claim, back off, retry
        INSUFFICIENT_BALANCE, UNAUTHORIZED   certainly not sent: release, close the gate
        HELD                         not attempted, a spend guard's hold: release, close the
                                     account's gate (the reason in `detail`)
        EXPIRED                      not sent, its expiry passed: release, `expired` (`unknown`
                                     when an earlier attempt may have gone)
    BatchState (ledger.base)        what the ledger remembers: claimed → sent | rejected | unknown
    ResultOutcome (contract.events) what a result event says: sent | scheduled | rejected |
                                    unknown | expired (never stored)
    Verdict (ledger.pending)        what reconciliation decided of a handed-over batch:
        SENT          the list shows it: settle it `sent`, never resend
        NOT_SENT      nothing in its window: send it once now, in both modes
        AMBIGUOUS     the list cannot tell: at_most_once → `unknown` for good; at_least_once
                      → resend
    Reconciliation (contract.events) on results: pending | sent | not_sent | ambiguous

Exceptions the pipeline catches on purpose, and nothing else:

    LedgerError (ledger.base)       the ledger did not answer: retry the call, send nothing
    ListReadError (status)         Push.R's list could not be read: back off, poll again
    asyncio.CancelledError          revoke or shutdown: a request in the air keeps its claim

Any other exception in a record's handling is a bug or a refused publish: the consumer loop
retries the record with backoff (`record_retries_total`), and the ledger keeps a retry from
sending twice.
"""
