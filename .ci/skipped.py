"""The pytest node ids that a JUnit XML report (pytest --junitxml) marks as skipped, one a line.

A module skipped as a whole (``pytest.importorskip`` at its top) is named by its file. Used by
``.ci/run`` to run again, once the optional extras are installed, only what skipped without them.
"""

import sys
import xml.etree.ElementTree as ET

for case in ET.parse(sys.argv[1]).iter("testcase"):
    if case.find("skipped") is None:
        continue
    module, name = case.get("classname"), case.get("name")
    if module:  # tests.test_lstm + test_x[1] -> tests/test_lstm.py::test_x[1]
        print(f"{module.replace('.', '/')}.py::{name}")
    else:  # a module skipped at collection: tests.test_model_torch -> tests/test_model_torch.py
        print(f"{name.replace('.', '/')}.py")
