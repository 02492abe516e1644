"""Console pages of money: the partner's funds (balance, allocations, batches, adjust records,
statement; a distributor's resellers) and the customer's own funds."""
