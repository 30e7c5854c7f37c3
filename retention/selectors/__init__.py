"""Reads of the record store that other code asks for: plans (a job's erasure plan, read in
SQL) and audience (who may receive direct marketing for a purpose)."""
