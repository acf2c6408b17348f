"""What the test modules share that is not a test: docker helpers, the EMF rules, the adversarial corpus,
synthetic benchmark rows. Test modules import from here, never from each other."""
