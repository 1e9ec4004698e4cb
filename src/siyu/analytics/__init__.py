"""Analytics: the columnar event store, the operations index, funnels, retention,
experiments and ROI."""
