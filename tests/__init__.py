"""gdsim's test suite.

``fuzz_counter`` is shared by the fuzz test and the summary line pytest prints at the end.
"""

fuzz_counter = {"tried": 0, "rejected": 0}
