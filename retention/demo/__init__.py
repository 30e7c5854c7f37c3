"""Realistic Swedish demo data for the five organisations.

Layout: `common` (pools of names and places, the generated person, the kit
that builds records against an organisation's loaded policy), one module per
organisation (`framsteget`, `prokompetens`, `coachen`, `prognoscentret`,
`expektra`: what it holds about a generated person, and about its fixed demo
person), and `seed` (`demo_seed`, the fixed demo people).

`demo_seed` fills the record store with `subjects` data subjects spread
evenly over the five organisations, plus the fixed demo people below, whose
e-mail addresses never change so that walk-throughs and tests can file
requests for them.

Design:

- Consistent with the policies. Every record's category and purpose come
  from the organisation's loaded policy (the category is one of the
  purpose's), its data holds exactly the category's `fields`, and its rule
  comes from the same resolver as imported records.
- Realistic for retention. Events are spread over the past months and years
  so that some records are past their retention and some are not: paid and
  unpaid invoices, IP addresses and fault reports of different ages,
  contracts that ended in past years, prospects whose last contact is old.
- Deterministic. Subject number `n` of an organisation is generated from
  (`seed`, organisation, `n`) alone and gets the external id
  `demo-<org>-<n>`, so a second run with the same arguments writes nothing
  and a run with a larger N only adds subjects.
- Additive. A subject that exists already is skipped before it is generated,
  and rows are written with `subject_rows_write(update_existing=False)` (the
  writer `import_records` uses): what exists is never overwritten, so
  re-running on a later day does not move the dates of existing demo data,
  and records an erasure removed do not come back.
- Fast. Names and addresses are drawn from pools that Faker('sv_SE') fills
  once; rows are written in chunks with a constant number of statements per
  chunk. 100,000 subjects (about 450,000 records) take one to two minutes on
  a two-core machine, about half of it in PostgreSQL's foreign-key checks;
  a second run skips every existing subject and takes seconds.

The personnummer are random numbers with a valid check digit: some may be
real people's numbers, so demo data must never leave a demo database.
"""

from retention.demo.common import ORGANISATION_SLUGS, DemoError
from retention.demo.seed import FIXED_PEOPLE, DemoPerson, SeedResult, demo_seed

__all__ = [
    "FIXED_PEOPLE",
    "ORGANISATION_SLUGS",
    "DemoError",
    "DemoPerson",
    "SeedResult",
    "demo_seed",
]
