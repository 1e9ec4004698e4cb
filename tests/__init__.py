"""siyu's test suite: tests by the module they test (mirroring `src/siyu/`), whole flows in
`e2e/`, fixtures in `fixtures/` (registered by `conftest.py`), helpers in `support/`."""

import pytest

# pytest rewrites the asserts of test modules, conftests and plugins; the helpers' asserts
# (a page that must answer 200, a token that must be found) report as clearly as theirs.
pytest.register_assert_rewrite("tests.support")
