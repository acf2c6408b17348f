"""Decide: statistics, prices and cost, the traffic model and the winner rule, from measured records."""
