"""Problems: the causes behind incidents, from investigation to known error to closure."""
