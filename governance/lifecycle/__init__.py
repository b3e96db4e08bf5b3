"""Joiners, movers and leavers: lifecycle changes that end and begin access without anyone asking."""
