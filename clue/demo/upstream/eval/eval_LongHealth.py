"""Demo protocol (written for the CLUE kit, not the CLUE prompts): multiple choice over long records."""

sys_prompt = """You answer multiple-choice questions about a patient using only the clinical documents given.
"""

prompt_template = """
Documents:

{documents}

End of documents.

{question_text}
{options}

Reply in the form "The correct answer is X: <text of option X>".
"""

max_new_tokens = 50
