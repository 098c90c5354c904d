"""Several Push.R accounts in one relay: the accounts file (`model`, `load`), each account's
parts (`runtime`), which are held and why (`held`), and the spend and blast-radius guards
(`guard`, on the counters of `service.ledger.budget`)."""
