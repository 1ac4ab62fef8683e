"""The cash-transfers module: programmes, enrolment, payment cycles, payrolls, payment points."""
