"""`PayWorld`: the sandbox's WeChat Pay v3, its topics put together, and the tick that settles
refunds and sends due notifications (by hand in tests, in a thread when served)."""

from __future__ import annotations

import threading

from siyu.sandbox.pay.bills import PayBills
from siyu.sandbox.pay.orders import PayOrders
from siyu.sandbox.pay.refunds import PayRefunds


class PayWorld(PayOrders, PayRefunds, PayBills):
    """All of the sandbox's Pay state, behind one lock; deliveries happen outside it."""

    def tick(self) -> int:
        """Settle due refunds and deliver every due notification once; how many were sent."""
        self.settle_refunds()
        sent = 0
        for notification in self.due():
            self.deliver(notification)
            sent += 1
        return sent

    def start(self, every: float = 1.0) -> None:
        """Tick in a background thread (a served sandbox; tests tick by hand)."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.tick()
                except Exception:  # noqa: S112 - keep ticking; a failed delivery is retried
                    continue

        self._thread = threading.Thread(target=loop, name="sandbox-pay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._owns_http:
            self.http.close()
